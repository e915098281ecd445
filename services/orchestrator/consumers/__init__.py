"""The orchestrator's NATS entrypoints."""
