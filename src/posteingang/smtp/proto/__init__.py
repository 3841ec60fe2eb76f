"""smtp proto."""
