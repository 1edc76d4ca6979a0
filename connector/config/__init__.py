"""Configuration: settings from the environment and the admin's YAML files (mapping and
plays), validated whole and located, before anything runs."""
