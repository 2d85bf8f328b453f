"""Venue adapters for the `exchange` kind: one module per venue, each mostly data."""
