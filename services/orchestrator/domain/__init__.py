"""The orchestrator's business rules: plain objects, no I/O."""
