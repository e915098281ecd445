"""The decision service's NATS entrypoints."""
