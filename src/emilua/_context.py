"""Process-wide facts about the running program, set by the CLI."""

# Absolute path of the program the emilua command runs (spawn_vm('.') target).
entry_module: str | None = None
