"""emilua: an execution engine for IO-heavy Python programs."""
