"""The decision service's gRPC edge."""
