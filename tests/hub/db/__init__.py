"""Tests of the storage layer: tables, migrations, engines."""
