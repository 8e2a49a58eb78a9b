"""Read-only indicators a CPTS is judged on: who waits, for how long, what gets resolved and accepted."""
