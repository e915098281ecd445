"""The decision service's tables and the queries on them (SQLAlchemy)."""
