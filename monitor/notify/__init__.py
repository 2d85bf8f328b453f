"""Delivery of notifications: the durable outbox and one module per notifier type."""
