"""The decision service's business rules: plain objects, no I/O."""
