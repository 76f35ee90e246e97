"""Revoked visitor QR passes (issue 13): ``face_revoked_passes``, carried to the gates in the
sealed, signed gate directory of the face bundle.

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
    # the face store (hub/pedestrian_gate/store.py) creates it too when it opens a file alone
    if sa.inspect(op.get_bind()).has_table("face_revoked_passes"):
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
