"""Storage: SQLModel tables, the async engine, queries, Alembic migrations and roster import."""
