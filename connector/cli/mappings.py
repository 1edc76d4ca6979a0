"""`smsync mappings validate|schema|check`: the admin's YAML files, offline and against the
live CRM."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from connector.cli.app import EXIT_USAGE, mappings_app
from connector.errors import MappingError, Problem

if TYPE_CHECKING:
    from connector.config import MappingConfig


@mappings_app.command("validate")
def mappings_validate(
    paths: Annotated[list[Path], typer.Argument(help="Mapping or plays YAML files to check.")],
    mapping: Annotated[
        Path | None,
        typer.Option(help="Mapping that plays files' tokens must fit (default: SMSYNC_MAPPINGS)"),
    ] = None,
) -> None:
    """Check mapping and plays files offline; print every problem as FILE:LINE:COL: message.

    A file whose top level has `plays:` or `policy:` is a plays file: its tokens are checked
    against `--mapping`, else SMSYNC_MAPPINGS, else the example for SMSYNC_CRM."""
    from connector.config import (
        load_mapping,
        load_settings,
        mapping_path,
        read_yaml,
        validate_mapping_paths,
        validate_plays_paths,
    )

    def is_plays(path: Path) -> bool:
        data = read_yaml(path).data
        return isinstance(data, dict) and bool({"plays", "policy"} & set(data))

    plays_files = [p for p in paths if is_plays(p)]
    problems: list[Problem] = validate_mapping_paths(
        [str(p) for p in paths if p not in plays_files]
    )
    if plays_files:
        target = mapping or mapping_path(load_settings())
        against: MappingConfig | None = None
        try:
            against = load_mapping(target)
        except MappingError as exc:
            if mapping is not None:  # named on purpose: its problems are the user's too
                problems.extend(exc.problems)
        problems.extend(validate_plays_paths(plays_files, against))
    _print_problems(problems, f"in {len(paths)} file(s)", f"ok: {len(paths)} file(s) valid")


@mappings_app.command("schema")
def mappings_schema() -> None:
    """Print the JSON Schema of mapping files, for editor autocompletion."""
    from connector.config import mapping_json_schema

    typer.echo(json.dumps(mapping_json_schema(), indent=2, sort_keys=True))


@mappings_app.command("check")
def mappings_check(
    path: Annotated[
        Path | None, typer.Argument(help="Mapping file (default: SMSYNC_MAPPINGS)")
    ] = None,
    plays: Annotated[
        Path | None,
        typer.Option(help="Plays file (default: SMSYNC_PLAYS, else mappings/plays.yaml)"),
    ] = None,
    fix_plan: Annotated[
        bool,
        typer.Option(
            "--fix-plan",
            help="Print, as JSON, the fields, picklist values and external ids to create"
            " (Salesforce Setup steps and Tooling requests; HubSpot property definitions)",
        ),
    ] = False,
) -> None:
    """Check the mapping and the plays file against the live CRM: every mapped field
    (describe or properties), every picklist value a play waits for, per object, every
    user, queue and owner id, and that smsync can write what it writes."""
    from connector.config import load_mapping, load_settings, mapping_path, validate_plays_paths
    from connector.engine.plan import plays_path

    settings = load_settings()
    target = path or mapping_path(settings)
    mapping = load_mapping(target)
    settings = settings.model_copy(update={"crm": mapping.crm})
    plays_file = plays or plays_path(settings)
    if plays_file is not None:  # offline first: a play naming unknown fields says so
        offline = validate_plays_paths([plays_file], mapping)
        if offline:
            _print_problems(offline, f"in {plays_file}", "")
    if fix_plan:
        from connector.crm.live_check import fix_plan as make_plan

        steps = make_plan(settings, mapping, plays_file)
        plan = {"crm": mapping.crm, "mapping": str(target), "steps": steps}
        typer.echo(json.dumps(plan, indent=2))
        typer.echo(f"{len(steps)} step(s) to prepare the {mapping.crm} org", err=True)
        return
    from connector.crm.live_check import check_live

    problems = check_live(settings, mapping, target, plays_file)
    checked = f"{target}" + (f" and {plays_file}" if plays_file else "")
    _print_problems(
        problems,
        f"against the {mapping.crm} org",
        f"ok: {checked} fit the {mapping.crm} org (fields, picklist values, ids)",
    )


def _print_problems(problems: Sequence[Problem], where: str, ok: str) -> None:
    """One FILE:LINE:COL line per problem on stdout and a count on stderr, then exit 2;
    or `ok` on stderr when there are none."""
    for problem in problems:
        typer.echo(str(problem))
    if problems:
        typer.echo(f"{len(problems)} problem(s) {where}", err=True)
        raise typer.Exit(EXIT_USAGE)
    typer.echo(ok, err=True)
