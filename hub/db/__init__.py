"""The hub's one storage layer: table definitions (``tables``), engines for SQLite and
PostgreSQL (``engine``) and Alembic migrations shipped in the package (``migrate``)."""
