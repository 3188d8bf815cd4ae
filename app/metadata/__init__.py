"""Durable metadata on SQLAlchemy Core: SQLite by default, PostgreSQL for several masters."""
