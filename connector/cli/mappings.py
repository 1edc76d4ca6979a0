"""`smsync mappings validate|schema|check`: the admin's YAML files, offline and against the
live CRM."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated

import typer

from connector.cli.app import EXIT_USAGE, mappings_app
from connector.errors import MappingError, Problem


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
        MappingConfig,
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
) -> None:
    """Check every mapped field against the live CRM's describe or properties."""
    from connector.config import load_mapping, load_settings, mapping_path

    settings = load_settings()
    target = path or mapping_path(settings)
    mapping = load_mapping(target)
    settings = settings.model_copy(update={"crm": mapping.crm})
    if mapping.crm == "salesforce":
        from connector.crm.salesforce.schema_check import check_mapping as check_salesforce

        problems = check_salesforce(settings, mapping, target)
    else:
        from connector.crm.hubspot.schema_check import check_mapping as check_hubspot

        problems = check_hubspot(settings, mapping, target)
    _print_problems(
        problems,
        f"against the {mapping.crm} schema",
        f"ok: every mapped field of {target} fits the {mapping.crm} schema",
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
