"""guide."""
