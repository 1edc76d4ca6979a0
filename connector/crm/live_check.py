"""The admin's files against the live CRM, whichever it is: `smsync mappings check` prints
the problems, `smsync run` checks them at start (`SMSYNC_CONFIG_CHECK`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import structlog

from connector.config import MappingConfig, Settings
from connector.crm.hubspot.auth import TokenSource
from connector.errors import ConfigError, ConfigFileError, Problem

log = structlog.get_logger(__name__)


def check_live(
    settings: Settings,
    mapping: MappingConfig,
    mapping_path: Path,
    plays_path: Path | None,
    *,
    hubspot_tokens: TokenSource | None = None,
) -> list[Problem]:
    """Every problem of the mapping (and plays file) against the org; [] when they fit."""
    if mapping.crm == "salesforce":
        from connector.crm.salesforce.schema_check import check_mapping as check_salesforce

        return check_salesforce(settings, mapping, mapping_path, plays_path)
    from connector.crm.hubspot.schema_check import check_mapping as check_hubspot

    return check_hubspot(settings, mapping, mapping_path, plays_path, tokens=hubspot_tokens)


def at_start(
    settings: Settings,
    mapping: MappingConfig,
    mapping_path: Path,
    plays_path: Path | None,
    *,
    hubspot_tokens: TokenSource | None = None,
) -> list[Problem]:
    """`smsync run`'s check, as SMSYNC_CONFIG_CHECK says: strict raises `ConfigFileError`
    (exit 2, nothing migrated or served), warn logs each problem and returns them."""
    mode = settings.config_check
    if mode == "off" or settings.startup_checks == "off":
        log.info("startup.config_check_skipped", setting=f"SMSYNC_CONFIG_CHECK={mode}")
        return []
    try:
        problems = check_live(
            settings, mapping, mapping_path, plays_path, hubspot_tokens=hubspot_tokens
        )
    except ConfigError:
        if mode == "strict":
            raise
        log.warning("startup.config_check_failed", exc_info=True)
        return []
    except Exception as exc:  # noqa: BLE001 - the vendor check at start already explains it
        if mode == "strict":
            raise ConfigError(
                f"the configuration check against the CRM failed ({type(exc).__name__}: {exc});"
                " SMSYNC_CONFIG_CHECK=warn starts anyway"
            ) from None
        log.warning("startup.config_check_failed", error=type(exc).__name__)
        return []
    if problems and mode == "strict":
        raise ConfigFileError(problems)
    for problem in problems:
        log.warning(
            "startup.config_problem",
            problem=str(problem),
            fix="smsync mappings check; SMSYNC_CONFIG_CHECK=strict refuses to start",
        )
    if not problems:
        log.info("startup.config_ok")
    return problems


def fix_plan(
    settings: Settings, mapping: MappingConfig, plays_path: Path | None
) -> list[dict[str, Any]]:
    """The fields, picklist values and external ids to create (`--fix-plan`)."""
    from connector.config import read_yaml
    from connector.crm.fix_plan import plan

    if mapping.crm == "salesforce":
        from connector.crm.salesforce.schema_check import read_facts as salesforce_facts

        facts = salesforce_facts(settings, mapping)
    else:
        from connector.crm.hubspot.schema_check import read_facts as hubspot_facts

        facts = hubspot_facts(settings, mapping)
    return plan(mapping, facts, read_yaml(plays_path) if plays_path is not None else None)
