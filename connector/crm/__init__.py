"""CRM adapters. Each implements `connector.ports.CrmPort` with the same file names
(client, http, mapping, errors, auth, pull, writer, schema_check), so knowing one means
knowing the other."""

from __future__ import annotations

from typing import TYPE_CHECKING

from connector.config import MappingConfig, Settings
from connector.errors import ConfigError
from connector.ports import Clock, CrmPort, IdMap, TokenVault

if TYPE_CHECKING:
    from connector.crm.hubspot.auth import TokenSource


def build_crm(
    settings: Settings,
    mapping: MappingConfig,
    *,
    id_map: IdMap | None = None,
    token_vault: TokenVault | None = None,
    hubspot_tokens: TokenSource | None = None,
    clock: Clock | None = None,
) -> CrmPort:
    """The adapter for `SMSYNC_CRM`, checked against the mapping file's own `crm:`.
    `hubspot_tokens`: a token source to share with the caller (the readiness checks)."""
    if mapping.crm != settings.crm:
        raise ConfigError(
            f"SMSYNC_CRM is {settings.crm!r} but the mapping file is for {mapping.crm!r};"
            " point SMSYNC_MAPPINGS at the matching file"
        )
    if settings.crm == "salesforce":
        from connector.crm.salesforce.client import SalesforceCrm

        return SalesforceCrm.from_settings(settings, mapping, clock=clock)
    from connector.crm.hubspot.client import HubSpotCrm

    return HubSpotCrm.from_settings(
        settings, mapping, id_map=id_map, token_vault=token_vault, tokens=hubspot_tokens
    )
