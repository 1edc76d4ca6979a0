"""Configuration: settings from the environment and the admin's YAML files (mapping and
plays), each validated whole before anything runs, every problem located FILE:LINE:COL.

This is the package's public face; the rest of smsync imports from here only.

    settings.py          Settings from the environment (and *_FILE secrets)
    yaml_source.py       YAML read with the position of every key and value, within limits
    yaml_compose.py      the bounded loader and builder behind it
    validation.py        a pydantic model over a YAML document: every problem, located
    values.py            value types both files share (TimeOfDay, SnakeName, ...), `Strict`
    mapping_*.py         the mapping file: its sections, types, the whole and its loader
    plays_*.py           the plays file: policy, plays, loader, and to the domain's records
    keywords_schema.py   the plays file's `policy.keywords`
"""

from importlib import import_module
from typing import TYPE_CHECKING

from connector.config.mapping_fields import FieldMap
from connector.config.mapping_loader import (
    load_mapping,
    mapping_json_schema,
    validate_mapping_paths,
)
from connector.config.mapping_rep_send import RepSend
from connector.config.mapping_routing import BusinessHours
from connector.config.mapping_schema import MappingConfig
from connector.config.settings import (
    SECRET_FIELDS,
    Settings,
    env_name,
    is_unset,
    load_settings,
    mapping_path,
    require,
)
from connector.config.yaml_source import YamlDocument, YamlPath, read_yaml, set_max_bytes

if TYPE_CHECKING:
    from connector.config.plays_loader import load_plays, validate_plays_paths
    from connector.config.plays_to_domain import to_play, to_policy

# Loaded on first use: the plays file's checks bring the zone and holiday data (about
# 100 MB and half a second), which reading the settings or a mapping must not cost.
_LAZY = {
    "load_plays": "plays_loader",
    "validate_plays_paths": "plays_loader",
    "to_play": "plays_to_domain",
    "to_policy": "plays_to_domain",
}

__all__ = [
    "SECRET_FIELDS",
    "BusinessHours",
    "FieldMap",
    "MappingConfig",
    "RepSend",
    "Settings",
    "YamlDocument",
    "YamlPath",
    "env_name",
    "is_unset",
    "load_mapping",
    "load_plays",
    "load_settings",
    "mapping_json_schema",
    "mapping_path",
    "read_yaml",
    "require",
    "set_max_bytes",
    "to_play",
    "to_policy",
    "validate_mapping_paths",
    "validate_plays_paths",
]


def __getattr__(name: str) -> object:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value
