"""The decision service: why this action and not another (models, offers, features)."""
