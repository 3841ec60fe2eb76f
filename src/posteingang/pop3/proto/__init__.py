"""pop3 proto."""
