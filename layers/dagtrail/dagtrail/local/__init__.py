"""Local mode: the real state machine and handlers on moto, tasks as local processes."""
