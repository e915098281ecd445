"""The orchestrator's adapters to other services (identity, decision) and the web."""
