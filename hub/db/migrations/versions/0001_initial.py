"""The first revision: the schema hub/schema.py and the components' numbered migrations built
(hub, retention, console, supervision, faces), so pre-Alembic databases are stamped with it.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("at", sa.Text(), nullable=False),
        sa.Column("actor", sa.Text(), nullable=False),
        sa.Column("action", sa.Text(), nullable=False),
        sa.Column("target", sa.Text(), nullable=False),
        sa.Column("before", sa.Text(), nullable=True),
        sa.Column("after", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sqlite_autoincrement=True,
    )
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.create_index("audit_target", ["target", "at"], unique=False)

    op.create_table(
        "commands",
        sa.Column("id", sa.Text(), nullable=False),
        sa.Column("site", sa.Text(), nullable=False),
        sa.Column("device", sa.Text(), nullable=False),
        sa.Column("gate", sa.Text(), nullable=False),
        sa.Column("action", sa.Text(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("operator", sa.Text(), nullable=False),
        sa.Column("sent_at", sa.Text(), nullable=False),
        sa.Column("expires_at", sa.Text(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("ack_result", sa.Text(), nullable=True),
        sa.Column("ack_detail", sa.Text(), nullable=True),
        sa.Column("acked_at", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("commands", schema=None) as batch_op:
        batch_op.create_index("commands_sent", ["site", "sent_at"], unique=False)

    op.create_table(
        "console_login_failures",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("username", sa.Text(), nullable=False),
        sa.Column("at", sa.Text(), nullable=False),
        sa.Column("client", sa.Text(), server_default=sa.text("''"), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sqlite_autoincrement=True,
    )
    with op.batch_alter_table("console_login_failures", schema=None) as batch_op:
        batch_op.create_index("console_login_failures_client", ["client", "at"], unique=False)
        batch_op.create_index("console_login_failures_user", ["username", "at"], unique=False)

    op.create_table(
        "console_users",
        sa.Column("username", sa.Text(), nullable=False),
        sa.Column("password_hash", sa.Text(), nullable=False),
        sa.Column("role", sa.Text(), nullable=False),
        sa.Column("scope", sa.Text(), nullable=True),
        sa.Column("display_name", sa.Text(), server_default=sa.text("''"), nullable=False),
        sa.Column("disabled", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("created_at", sa.Text(), nullable=False),
        sa.Column("password_set_at", sa.Text(), nullable=False),
        sa.Column("last_login_at", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("username"),
    )
    op.create_table(
        "console_visitor_passes",
        sa.Column("id", sa.Text(), nullable=False),
        sa.Column("site", sa.Text(), nullable=False),
        sa.Column("plate", sa.Text(), nullable=False),
        sa.Column("host_unit", sa.Text(), server_default=sa.text("''"), nullable=False),
        sa.Column("valid_from", sa.Text(), nullable=False),
        sa.Column("valid_until", sa.Text(), nullable=False),
        sa.Column("token", sa.Text(), nullable=False),
        sa.Column("created_by", sa.Text(), nullable=False),
        sa.Column("created_at", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("console_visitor_passes", schema=None) as batch_op:
        batch_op.create_index("console_visitor_passes_site", ["site", "valid_until"], unique=False)

    op.create_table(
        "counters",
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("value", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )
    op.create_table(
        "devices",
        sa.Column("site", sa.Text(), nullable=False),
        sa.Column("device", sa.Text(), nullable=False),
        sa.Column("online", sa.Integer(), nullable=True),
        sa.Column("last_seen", sa.Text(), nullable=True),
        sa.Column("last_heartbeat", sa.Text(), nullable=True),
        sa.Column("offline_since", sa.Text(), nullable=True),
        sa.Column("status_reason", sa.Text(), server_default=sa.text("''"), nullable=False),
        sa.PrimaryKeyConstraint("site", "device"),
    )
    op.create_table(
        "events",
        sa.Column("id", sa.Text(), nullable=False),
        sa.Column("site", sa.Text(), nullable=False),
        sa.Column("device", sa.Text(), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("ts", sa.Text(), nullable=False),
        sa.Column("received_at", sa.Text(), nullable=False),
        sa.Column("topic", sa.Text(), nullable=False),
        sa.Column("retained", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("gate", sa.Text(), nullable=True),
        sa.Column("plate", sa.Text(), nullable=True),
        sa.Column("subject", sa.Text(), nullable=True),
        sa.Column("decision", sa.Text(), nullable=True),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("evidence_purged_at", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.create_index("events_device_ts", ["site", "device", "ts"], unique=False)
        batch_op.create_index(
            "events_gate_ts",
            ["gate", "ts"],
            unique=False,
            sqlite_where=sa.text("gate IS NOT NULL"),
            postgresql_where=sa.text("gate IS NOT NULL"),
        )
        batch_op.create_index("events_kind_ts", ["kind", "ts"], unique=False)
        batch_op.create_index(
            "events_plate",
            ["plate"],
            unique=False,
            sqlite_where=sa.text("plate IS NOT NULL"),
            postgresql_where=sa.text("plate IS NOT NULL"),
        )
        batch_op.create_index("events_site_ts", ["site", "ts"], unique=False)

    op.create_table(
        "face_credential_changes",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("site", sa.Text(), nullable=False),
        sa.Column("person", sa.Text(), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("action", sa.Text(), nullable=False),
        sa.Column("operator", sa.Text(), nullable=False),
        sa.Column("changed_at", sa.Text(), nullable=False),
        sa.Column("bundle_version", sa.Integer(), nullable=False),
        sa.CheckConstraint(
            "action IN ('set', 'remove', 'erase')", name="face_credential_changes_action"
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "face_credentials",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("site", sa.Text(), nullable=False),
        sa.Column("person", sa.Text(), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("sealed", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.Text(), nullable=False),
        sa.CheckConstraint("kind IN ('pin', 'card')", name="face_credentials_kind"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("person", "kind"),
    )
    with op.batch_alter_table("face_credentials", schema=None) as batch_op:
        batch_op.create_index("face_credentials_site", ["site", "kind"], unique=False)

    op.create_table(
        "face_erasures",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("person", sa.Text(), nullable=False),
        sa.Column("site", sa.Text(), nullable=False),
        sa.Column("erased_at", sa.Text(), nullable=False),
        sa.Column("operator", sa.Text(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("encodings_erased", sa.Integer(), nullable=False),
        sa.Column("consents_erased", sa.Integer(), nullable=False),
        sa.Column("bundle_version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "face_persons",
        sa.Column("person", sa.Text(), nullable=False),
        sa.Column("site", sa.Text(), nullable=False),
        sa.Column("role", sa.Text(), nullable=False),
        sa.Column("created_at", sa.Text(), nullable=False),
        sa.CheckConstraint("role IN ('resident', 'blacklist')", name="face_persons_role"),
        sa.PrimaryKeyConstraint("person"),
    )
    op.create_table(
        "face_sites",
        sa.Column("site", sa.Text(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("site"),
    )
    op.create_table(
        "reject_counts",
        sa.Column("site", sa.Text(), nullable=False),
        sa.Column("device", sa.Text(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("minute", sa.Text(), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("site", "device", "reason", "minute"),
    )
    with op.batch_alter_table("reject_counts", schema=None) as batch_op:
        batch_op.create_index("reject_counts_minute", ["minute"], unique=False)

    op.create_table(
        "rejected",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("received_at", sa.Text(), nullable=False),
        sa.Column("topic", sa.Text(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("payload_size", sa.Integer(), nullable=False),
        sa.Column("payload_head", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sqlite_autoincrement=True,
    )
    op.create_table(
        "sv_commendations",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("site", sa.Text(), nullable=False),
        sa.Column("company", sa.Text(), nullable=False),
        sa.Column("at", sa.Text(), nullable=False),
        sa.Column("what", sa.Text(), nullable=False),
        sa.Column("source", sa.Text(), server_default=sa.text("''"), nullable=False),
        sa.Column("issued_by", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sqlite_autoincrement=True,
    )
    op.create_table(
        "sv_companies",
        sa.Column("id", sa.Text(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("updated_at", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "sv_complaints",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("site", sa.Text(), nullable=False),
        sa.Column("company", sa.Text(), nullable=False),
        sa.Column("reporter", sa.Text(), nullable=False),
        sa.Column("contact", sa.Text(), server_default=sa.text("''"), nullable=False),
        sa.Column("channel", sa.Text(), nullable=False),
        sa.Column("category", sa.Text(), nullable=False),
        sa.Column("severity", sa.Text(), nullable=False),
        sa.Column("what", sa.Text(), nullable=False),
        sa.Column("location", sa.Text(), server_default=sa.text("''"), nullable=False),
        sa.Column("occurred_at", sa.Text(), nullable=False),
        sa.Column("received_at", sa.Text(), nullable=False),
        sa.Column("received_by", sa.Text(), nullable=False),
        sa.Column("status", sa.Text(), server_default=sa.text("'new'"), nullable=False),
        sa.Column("decision", sa.Text(), nullable=True),
        sa.Column("deadline", sa.Text(), nullable=True),
        sa.Column("rectified_at", sa.Text(), nullable=True),
        sa.Column("closed_at", sa.Text(), nullable=True),
        sa.Column("overdue_since", sa.Text(), nullable=True),
        sa.Column("escalations", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("verified", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("note", sa.Text(), server_default=sa.text("''"), nullable=False),
        sa.Column("rectification", sa.Text(), server_default=sa.text("'[]'"), nullable=False),
        sa.Column("order_id", sa.Integer(), nullable=True),
        sa.Column("updated_at", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sqlite_autoincrement=True,
    )
    with op.batch_alter_table("sv_complaints", schema=None) as batch_op:
        batch_op.create_index("sv_complaints_site", ["site", "received_at"], unique=False)

    op.create_table(
        "sv_inspections",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("site", sa.Text(), nullable=False),
        sa.Column("company", sa.Text(), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("date", sa.Text(), nullable=False),
        sa.Column("inspector", sa.Text(), nullable=False),
        sa.Column("summary", sa.Text(), server_default=sa.text("''"), nullable=False),
        sa.Column("created_at", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sqlite_autoincrement=True,
    )
    op.create_table(
        "sv_orders",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("site", sa.Text(), nullable=False),
        sa.Column("company", sa.Text(), nullable=False),
        sa.Column("what", sa.Text(), nullable=False),
        sa.Column("source", sa.Text(), nullable=True),
        sa.Column("issued_by", sa.Text(), nullable=False),
        sa.Column("issued_at", sa.Text(), nullable=False),
        sa.Column("status", sa.Text(), server_default=sa.text("'new'"), nullable=False),
        sa.Column("decision", sa.Text(), nullable=True),
        sa.Column("deadline", sa.Text(), nullable=True),
        sa.Column("rectified_at", sa.Text(), nullable=True),
        sa.Column("closed_at", sa.Text(), nullable=True),
        sa.Column("overdue_since", sa.Text(), nullable=True),
        sa.Column("escalations", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("verified", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("note", sa.Text(), server_default=sa.text("''"), nullable=False),
        sa.Column("rectification", sa.Text(), server_default=sa.text("'[]'"), nullable=False),
        sa.Column("order_id", sa.Integer(), nullable=True),
        sa.Column("updated_at", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sqlite_autoincrement=True,
    )
    with op.batch_alter_table("sv_orders", schema=None) as batch_op:
        batch_op.create_index("sv_orders_site", ["site", "issued_at"], unique=False)

    op.create_table(
        "sv_ratings",
        sa.Column("period", sa.Text(), nullable=False),
        sa.Column("company", sa.Text(), nullable=False),
        sa.Column("standard_version", sa.Integer(), nullable=False),
        sa.Column("score", sa.Text(), nullable=False),
        sa.Column("level", sa.Text(), nullable=False),
        sa.Column("rank", sa.Integer(), nullable=False),
        sa.Column("published_at", sa.Text(), nullable=False),
        sa.Column("published_by", sa.Text(), nullable=False),
        sa.Column("items", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("period", "company"),
    )
    op.create_table(
        "sv_violation_cases",
        sa.Column("violation_id", sa.Text(), nullable=False),
        sa.Column("site", sa.Text(), nullable=False),
        sa.Column("company", sa.Text(), nullable=False),
        sa.Column("status", sa.Text(), server_default=sa.text("'new'"), nullable=False),
        sa.Column("decision", sa.Text(), nullable=True),
        sa.Column("deadline", sa.Text(), nullable=True),
        sa.Column("rectified_at", sa.Text(), nullable=True),
        sa.Column("closed_at", sa.Text(), nullable=True),
        sa.Column("overdue_since", sa.Text(), nullable=True),
        sa.Column("escalations", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("verified", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("note", sa.Text(), server_default=sa.text("''"), nullable=False),
        sa.Column("rectification", sa.Text(), server_default=sa.text("'[]'"), nullable=False),
        sa.Column("order_id", sa.Integer(), nullable=True),
        sa.Column("updated_at", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("violation_id"),
    )
    op.create_table(
        "sync_lists",
        sa.Column("site", sa.Text(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("digest", sa.Text(), nullable=False),
        sa.Column("updated_at", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("site", "name"),
    )
    op.create_table(
        "violations",
        sa.Column("id", sa.Text(), nullable=False),
        sa.Column("site", sa.Text(), nullable=False),
        sa.Column("type", sa.Text(), nullable=False),
        sa.Column("category", sa.Text(), nullable=False),
        sa.Column("severity", sa.Text(), nullable=False),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("gate", sa.Text(), nullable=True),
        sa.Column("device", sa.Text(), nullable=True),
        sa.Column("company", sa.Text(), nullable=False),
        sa.Column("opened_at", sa.Text(), nullable=False),
        sa.Column("status", sa.Text(), server_default=sa.text("'open'"), nullable=False),
        sa.Column("closed_at", sa.Text(), nullable=True),
        sa.Column("detail", sa.Text(), server_default=sa.text("''"), nullable=False),
        sa.Column("resolution", sa.Text(), nullable=True),
        sa.Column("evidence", sa.Text(), server_default=sa.text("'[]'"), nullable=False),
        sa.Column("open_key", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("violations", schema=None) as batch_op:
        batch_op.create_index(
            "violations_one_open",
            ["open_key"],
            unique=True,
            sqlite_where=sa.text("status = 'open' AND open_key IS NOT NULL"),
            postgresql_where=sa.text("status = 'open' AND open_key IS NOT NULL"),
        )
        batch_op.create_index("violations_site_opened", ["site", "opened_at"], unique=False)
        batch_op.create_index("violations_status", ["status", "type"], unique=False)

    op.create_table(
        "console_sessions",
        sa.Column("token_sha256", sa.Text(), nullable=False),
        sa.Column("username", sa.Text(), nullable=False),
        sa.Column("csrf_token", sa.Text(), nullable=False),
        sa.Column("created_at", sa.Text(), nullable=False),
        sa.Column("expires_at", sa.Text(), nullable=False),
        sa.Column("client", sa.Text(), server_default=sa.text("''"), nullable=False),
        sa.ForeignKeyConstraint(["username"], ["console_users.username"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("token_sha256"),
    )
    with op.batch_alter_table("console_sessions", schema=None) as batch_op:
        batch_op.create_index("console_sessions_user", ["username"], unique=False)

    op.create_table(
        "face_consents",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("person", sa.Text(), nullable=False),
        sa.Column("consent_by", sa.Text(), nullable=False),
        sa.Column("purpose", sa.Text(), nullable=False),
        sa.Column("given_at", sa.Text(), nullable=False),
        sa.Column("expires_at", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["person"], ["face_persons.person"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "face_encodings",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("person", sa.Text(), nullable=False),
        sa.Column("sealed", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["person"], ["face_persons.person"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("face_encodings", schema=None) as batch_op:
        batch_op.create_index("face_encodings_person", ["person"], unique=False)

    op.create_table(
        "sv_inspection_items",
        sa.Column("inspection_id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("code", sa.Text(), nullable=False),
        sa.Column("label", sa.Text(), nullable=False),
        sa.Column("severity", sa.Text(), nullable=False),
        sa.Column("passed", sa.Integer(), nullable=False),
        sa.Column("note", sa.Text(), server_default=sa.text("''"), nullable=False),
        sa.ForeignKeyConstraint(
            ["inspection_id"],
            ["sv_inspections.id"],
        ),
        sa.PrimaryKeyConstraint("inspection_id", "seq"),
    )
    op.create_table(
        "sv_sites",
        sa.Column("id", sa.Text(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("name_en", sa.Text(), server_default=sa.text("''"), nullable=False),
        sa.Column("company", sa.Text(), nullable=False),
        sa.Column("updated_at", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["company"],
            ["sv_companies.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )


def downgrade() -> None:

    op.drop_table("sv_sites")
    op.drop_table("sv_inspection_items")
    with op.batch_alter_table("face_encodings", schema=None) as batch_op:
        batch_op.drop_index("face_encodings_person")

    op.drop_table("face_encodings")
    op.drop_table("face_consents")
    with op.batch_alter_table("console_sessions", schema=None) as batch_op:
        batch_op.drop_index("console_sessions_user")

    op.drop_table("console_sessions")
    with op.batch_alter_table("violations", schema=None) as batch_op:
        batch_op.drop_index("violations_status")
        batch_op.drop_index("violations_site_opened")
        batch_op.drop_index(
            "violations_one_open",
            sqlite_where=sa.text("status = 'open' AND open_key IS NOT NULL"),
            postgresql_where=sa.text("status = 'open' AND open_key IS NOT NULL"),
        )

    op.drop_table("violations")
    op.drop_table("sync_lists")
    op.drop_table("sv_violation_cases")
    op.drop_table("sv_ratings")
    with op.batch_alter_table("sv_orders", schema=None) as batch_op:
        batch_op.drop_index("sv_orders_site")

    op.drop_table("sv_orders")
    op.drop_table("sv_inspections")
    with op.batch_alter_table("sv_complaints", schema=None) as batch_op:
        batch_op.drop_index("sv_complaints_site")

    op.drop_table("sv_complaints")
    op.drop_table("sv_companies")
    op.drop_table("sv_commendations")
    op.drop_table("rejected")
    with op.batch_alter_table("reject_counts", schema=None) as batch_op:
        batch_op.drop_index("reject_counts_minute")

    op.drop_table("reject_counts")
    op.drop_table("face_sites")
    op.drop_table("face_persons")
    op.drop_table("face_erasures")
    with op.batch_alter_table("face_credentials", schema=None) as batch_op:
        batch_op.drop_index("face_credentials_site")

    op.drop_table("face_credentials")
    op.drop_table("face_credential_changes")
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.drop_index("events_site_ts")
        batch_op.drop_index(
            "events_plate",
            sqlite_where=sa.text("plate IS NOT NULL"),
            postgresql_where=sa.text("plate IS NOT NULL"),
        )
        batch_op.drop_index("events_kind_ts")
        batch_op.drop_index(
            "events_gate_ts",
            sqlite_where=sa.text("gate IS NOT NULL"),
            postgresql_where=sa.text("gate IS NOT NULL"),
        )
        batch_op.drop_index("events_device_ts")

    op.drop_table("events")
    op.drop_table("devices")
    op.drop_table("counters")
    with op.batch_alter_table("console_visitor_passes", schema=None) as batch_op:
        batch_op.drop_index("console_visitor_passes_site")

    op.drop_table("console_visitor_passes")
    op.drop_table("console_users")
    with op.batch_alter_table("console_login_failures", schema=None) as batch_op:
        batch_op.drop_index("console_login_failures_user")
        batch_op.drop_index("console_login_failures_client")

    op.drop_table("console_login_failures")
    with op.batch_alter_table("commands", schema=None) as batch_op:
        batch_op.drop_index("commands_sent")

    op.drop_table("commands")
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.drop_index("audit_target")

    op.drop_table("audit_log")
