"""The `dagtrail` command line."""
