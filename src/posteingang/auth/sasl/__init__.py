"""auth sasl."""
