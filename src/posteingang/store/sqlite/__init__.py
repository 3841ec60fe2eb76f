"""store sqlite."""
