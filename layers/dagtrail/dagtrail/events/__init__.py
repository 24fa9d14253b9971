"""AWS event models, EventBridge pattern matching and routing."""
