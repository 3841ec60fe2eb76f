"""Contract, the whole `Store`: what needs every part together (`check`)."""
