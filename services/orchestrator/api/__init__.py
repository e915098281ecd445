"""The orchestrator's gRPC edge."""
