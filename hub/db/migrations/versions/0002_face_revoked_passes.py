"""Revoked visitor passes (the faces store's ``face_revoked_passes``).

The faces store also creates this table itself (``CREATE TABLE IF NOT EXISTS``), so a file it
opened before this revision may have it already: created only where missing.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if "face_revoked_passes" in sa.inspect(op.get_bind()).get_table_names():
        return
    op.create_table(
        "face_revoked_passes",
        sa.Column("site", sa.Text(), nullable=False),
        sa.Column("pass_id", sa.Text(), nullable=False),
        sa.Column("revoked_at", sa.Text(), nullable=False),
        sa.Column("operator", sa.Text(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("bundle_version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("site", "pass_id"),
    )


def downgrade() -> None:
    op.drop_table("face_revoked_passes")
