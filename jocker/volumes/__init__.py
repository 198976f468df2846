"""volumes room."""
