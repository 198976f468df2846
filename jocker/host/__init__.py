"""host room."""
