"""system room."""
