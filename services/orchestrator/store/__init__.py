"""The orchestrator's tables and the queries on them (SQLAlchemy)."""
