"""The revisions, oldest first (0001: the schema of the numbered migrations)."""
