"""Pure rules and records. Imports nothing from the rest of the package, and does no I/O."""
