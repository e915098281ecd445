"""The gateway: tenants, API keys and quotas at the edge, and the public gRPC API."""
