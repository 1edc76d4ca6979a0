"""Checks of a play's languages and variants that need the whole play (so the schema's
per-model validators cannot make them), each located at the offending key: a variant
that rewrites the text must write it in every language the play speaks, and may not
speak a language the play has no template in."""

from __future__ import annotations

from collections.abc import Iterator

from connector.config.yaml_source import YamlDocument, YamlPath, format_path
from connector.errors import Problem


def template_paths(play: object, index: int) -> Iterator[tuple[YamlPath, dict[str, object]]]:
    """Every template of the raw play, with the path of its `text`: the play's, its
    translations', and its variants' (theirs and their translations')."""
    if not isinstance(play, dict):
        return
    base: YamlPath = ("plays", index)
    yield from _templates(play, base)
    variants = play.get("variants")
    for v_index, variant in enumerate(variants if isinstance(variants, list) else []):
        if isinstance(variant, dict):
            yield from _templates(variant, (*base, "variants", v_index))


def _templates(
    owner: dict[str, object], at: YamlPath
) -> Iterator[tuple[YamlPath, dict[str, object]]]:
    template = owner.get("template")
    if isinstance(template, dict):
        yield (*at, "template", "text"), template
    translations = owner.get("translations")
    for language, translated in (translations if isinstance(translations, dict) else {}).items():
        if isinstance(translated, dict):
            yield (*at, "translations", str(language), "text"), translated


def _languages(owner: dict[str, object]) -> set[str]:
    translations = owner.get("translations")
    return {str(k) for k in translations} if isinstance(translations, dict) else set()


def language_problems(doc: YamlDocument) -> list[Problem]:
    data = doc.data if isinstance(doc.data, dict) else {}
    plays = data.get("plays")
    problems: list[Problem] = []
    for index, play in enumerate(plays if isinstance(plays, list) else []):
        if isinstance(play, dict):
            problems.extend(_play_problems(doc, play, index))
    return problems


def _problem(doc: YamlDocument, path: YamlPath, message: str) -> Problem:
    at = doc.nearest(path)
    return Problem(doc.file, at.line, at.col, f"{format_path(path)}: {message}")


def _play_problems(doc: YamlDocument, play: dict[str, object], index: int) -> list[Problem]:
    fallback = str(play.get("language") or "en")
    spoken = _languages(play)
    problems: list[Problem] = []
    if fallback in spoken:
        problems.append(
            _problem(
                doc,
                ("plays", index, "translations", fallback),
                f"{fallback} is the play's fallback language (`language`), whose text is"
                " `template`; remove this translation or change `language`",
            )
        )
    variants = play.get("variants")
    for v_index, variant in enumerate(variants if isinstance(variants, list) else []):
        if not isinstance(variant, dict) or not isinstance(variant.get("template"), dict):
            continue  # a variant without its own text sends the play's, in every language
        at: YamlPath = ("plays", index, "variants", v_index)
        name = variant.get("name")
        problems.extend(
            _problem(
                doc,
                (*at, "translations", language),
                f"the play has no {language} template, so variant {name} cannot have"
                f" one; add {language} under the play's translations, or remove it here",
            )
            for language in sorted(_languages(variant) - spoken - {fallback})
        )
        problems.extend(
            _problem(
                doc,
                (*at, "template"),
                f"variant {name} has no {language} template, but the play texts"
                f" {language} speakers; add `translations: {{{language}: {{text: ...}}}}`"
                " to the variant",
            )
            for language in sorted(spoken - _languages(variant))
        )
    return problems
