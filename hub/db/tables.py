"""Every table of the hub's database, in one place (SQLAlchemy Core ``MetaData``).

The same definitions serve SQLite (the embedded default) and PostgreSQL. Times are ISO 8601
strings in UTC (they sort as text on both engines); JSON documents are stored as text, so
both engines hold the same bytes and the hub parses them once, where it needs them. Alembic
migrations (hub/db/migrations/) create and change these tables; ``metadata`` is what the
migrations must produce (tests/hub/db/test_migrate.py compares them).
"""

from __future__ import annotations

from sqlalchemy import (
    CheckConstraint,
    Column,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    Table,
    Text,
    UniqueConstraint,
    text,
)

metadata = MetaData()


def _text(name: str, *, nullable: bool = True, default: str | None = None) -> Column:
    return Column(
        name, Text, nullable=nullable, server_default=None if default is None else text(default)
    )


def _required(name: str) -> Column:
    return Column(name, Text, nullable=False)


def _serial(name: str = "id") -> Column:
    return Column(name, Integer, primary_key=True, autoincrement=True)


# ---------------------------------------------------------------------- the hub (hub/store.py)

events = Table(
    "events",
    metadata,
    Column("id", Text, primary_key=True),  # the envelope id: de-duplication key
    _required("site"),
    _required("device"),
    _required("kind"),
    _required("ts"),  # the device's timestamp
    _required("received_at"),  # the hub's clock
    _required("topic"),
    Column("retained", Integer, nullable=False, server_default=text("0")),
    _text("gate"),
    _text("plate"),
    _text("subject"),  # plate / person / slot / command id / alarm type
    _text("decision"),
    _required("payload"),  # the envelope's payload as JSON
    _text("evidence_purged_at"),  # retention: when its snapshots were removed
)
Index("events_site_ts", events.c.site, events.c.ts)
Index("events_kind_ts", events.c.kind, events.c.ts)
Index(
    "events_gate_ts",
    events.c.gate,
    events.c.ts,
    sqlite_where=events.c.gate.is_not(None),
    postgresql_where=events.c.gate.is_not(None),
)
Index(
    "events_plate",
    events.c.plate,
    sqlite_where=events.c.plate.is_not(None),
    postgresql_where=events.c.plate.is_not(None),
)
Index("events_device_ts", events.c.site, events.c.device, events.c.ts)

rejected = Table(
    "rejected",
    metadata,
    _serial(),
    _required("received_at"),
    _required("topic"),
    _required("reason"),
    Column("payload_size", Integer, nullable=False),
    _required("payload_head"),
    sqlite_autoincrement=True,
)

counters = Table(
    "counters",
    metadata,
    Column("name", Text, primary_key=True),
    Column("value", Integer, nullable=False, server_default=text("0")),
)

devices = Table(
    "devices",
    metadata,
    Column("site", Text, nullable=False),
    Column("device", Text, nullable=False),
    Column("online", Integer),  # NULL: never heard from
    _text("last_seen"),
    _text("last_heartbeat"),
    _text("offline_since"),  # when it reported itself offline (LWT)
    _text("status_reason", nullable=False, default="''"),
    PrimaryKeyConstraint("site", "device"),
)

violations = Table(
    "violations",
    metadata,
    Column("id", Text, primary_key=True),
    _required("site"),
    _required("type"),
    _required("category"),  # security | service (counts against company)
    _required("severity"),
    _required("subject"),
    _text("gate"),
    _text("device"),
    _required("company"),  # the responsible property company id
    _required("opened_at"),
    _text("status", nullable=False, default="'open'"),
    _text("closed_at"),
    _text("detail", nullable=False, default="''"),
    _text("resolution"),
    _text("evidence", nullable=False, default="'[]'"),  # JSON list of source event ids
    _text("open_key"),  # at most one open violation per key
)
_one_open = (violations.c.status == "open") & violations.c.open_key.is_not(None)
Index(
    "violations_one_open",
    violations.c.open_key,
    unique=True,
    sqlite_where=_one_open,
    postgresql_where=_one_open,
)
Index("violations_site_opened", violations.c.site, violations.c.opened_at)
Index("violations_status", violations.c.status, violations.c.type)

commands = Table(
    "commands",
    metadata,
    Column("id", Text, primary_key=True),  # the GateCommand envelope id
    _required("site"),
    _required("device"),
    _required("gate"),
    _required("action"),
    _required("reason"),
    _required("operator"),
    _required("sent_at"),
    _required("expires_at"),
    _required("status"),  # sent | acknowledged | failed | timeout
    _text("ack_result"),
    _text("ack_detail"),
    _text("acked_at"),
)
Index("commands_sent", commands.c.site, commands.c.sent_at)

audit_log = Table(
    "audit_log",
    metadata,
    _serial(),
    _required("at"),
    _required("actor"),
    _required("action"),
    _required("target"),
    _text("before"),  # JSON or NULL
    _text("after"),  # JSON or NULL
    sqlite_autoincrement=True,
)
Index("audit_target", audit_log.c.target, audit_log.c.at)

sync_lists = Table(
    "sync_lists",
    metadata,
    Column("site", Text, nullable=False),
    Column("name", Text, nullable=False),  # vehicles, faces, ...
    Column("version", Integer, nullable=False),
    _required("digest"),  # sha256 of the list content
    _required("updated_at"),
    PrimaryKeyConstraint("site", "name"),
)

# every reject counted per (site, device, reason code, minute) (hub/rejects.py)
reject_counts = Table(
    "reject_counts",
    metadata,
    Column("site", Text, nullable=False),
    Column("device", Text, nullable=False),
    Column("reason", Text, nullable=False),  # a code of hub.rejects.REASON_CODES
    Column("minute", Text, nullable=False),  # UTC, 'YYYY-MM-DDTHH:MM'
    Column("count", Integer, nullable=False),
    PrimaryKeyConstraint("site", "device", "reason", "minute"),
)
Index("reject_counts_minute", reject_counts.c.minute)

# ---------------------------------------------------------------------- console (hub/console/)

console_users = Table(
    "console_users",
    metadata,
    Column("username", Text, primary_key=True),
    _required("password_hash"),  # argon2id, encoded with its parameters
    _required("role"),  # guard | manager | regulator | admin
    _text("scope"),  # guard: site id; manager: company id
    _text("display_name", nullable=False, default="''"),
    Column("disabled", Integer, nullable=False, server_default=text("0")),
    _required("created_at"),
    _required("password_set_at"),
    _text("last_login_at"),
)

console_sessions = Table(
    "console_sessions",
    metadata,
    Column("token_sha256", Text, primary_key=True),  # the cookie's token is never stored
    Column(
        "username",
        Text,
        ForeignKey("console_users.username", ondelete="CASCADE"),
        nullable=False,
    ),
    _required("csrf_token"),
    _required("created_at"),
    _required("expires_at"),
    _text("client", nullable=False, default="''"),
)
Index("console_sessions_user", console_sessions.c.username)

console_login_failures = Table(
    "console_login_failures",
    metadata,
    _serial(),
    _required("username"),
    _required("at"),
    _text("client", nullable=False, default="''"),
    sqlite_autoincrement=True,
)
Index("console_login_failures_user", console_login_failures.c.username, console_login_failures.c.at)
Index("console_login_failures_client", console_login_failures.c.client, console_login_failures.c.at)

console_visitor_passes = Table(
    "console_visitor_passes",
    metadata,
    Column("id", Text, primary_key=True),
    _required("site"),
    _required("plate"),
    _text("host_unit", nullable=False, default="''"),
    _required("valid_from"),
    _required("valid_until"),
    _required("token"),  # what the QR code carries
    _required("created_by"),
    _required("created_at"),
)
Index(
    "console_visitor_passes_site",
    console_visitor_passes.c.site,
    console_visitor_passes.c.valid_until,
)

# ---------------------------------------------------------------------- supervision


def _case_columns() -> list[Column]:
    """The workflow columns every case-like table carries (see supervision.workflow.Case)."""
    return [
        _text("status", nullable=False, default="'new'"),
        _text("decision"),
        _text("deadline"),
        _text("rectified_at"),
        _text("closed_at"),
        _text("overdue_since"),
        Column("escalations", Integer, nullable=False, server_default=text("0")),
        Column("verified", Integer, nullable=False, server_default=text("0")),
        _text("note", nullable=False, default="''"),
        _text("rectification", nullable=False, default="'[]'"),  # JSON: the company's evidence
        Column("order_id", Integer),  # the rectification order it led to
        _required("updated_at"),
    ]


sv_companies = Table(
    "sv_companies",
    metadata,
    Column("id", Text, primary_key=True),
    _required("name"),
    _required("updated_at"),
)

sv_sites = Table(
    "sv_sites",
    metadata,
    Column("id", Text, primary_key=True),
    _required("name"),
    _text("name_en", nullable=False, default="''"),
    Column("company", Text, ForeignKey("sv_companies.id"), nullable=False),
    _required("updated_at"),
)

sv_violation_cases = Table(
    "sv_violation_cases",
    metadata,
    Column("violation_id", Text, primary_key=True),  # violations.id (the hub's table)
    _required("site"),
    _required("company"),
    *_case_columns(),
)

sv_complaints = Table(
    "sv_complaints",
    metadata,
    _serial(),
    _required("site"),
    _required("company"),
    _required("reporter"),
    _text("contact", nullable=False, default="''"),
    _required("channel"),
    _required("category"),
    _required("severity"),
    _required("what"),
    _text("location", nullable=False, default="''"),
    _required("occurred_at"),
    _required("received_at"),
    _required("received_by"),
    *_case_columns(),
    sqlite_autoincrement=True,
)
Index("sv_complaints_site", sv_complaints.c.site, sv_complaints.c.received_at)

sv_inspections = Table(
    "sv_inspections",
    metadata,
    _serial(),
    _required("site"),
    _required("company"),
    _required("kind"),  # open | unannounced | spot_check
    _required("date"),
    _required("inspector"),
    _text("summary", nullable=False, default="''"),
    _required("created_at"),
    sqlite_autoincrement=True,
)

sv_inspection_items = Table(
    "sv_inspection_items",
    metadata,
    Column("inspection_id", Integer, ForeignKey("sv_inspections.id"), nullable=False),
    Column("seq", Integer, nullable=False),
    _required("code"),
    _required("label"),
    _required("severity"),
    Column("passed", Integer, nullable=False),
    _text("note", nullable=False, default="''"),
    PrimaryKeyConstraint("inspection_id", "seq"),
)

sv_orders = Table(
    "sv_orders",
    metadata,
    _serial(),
    _required("site"),
    _required("company"),  # the responsible company
    _required("what"),
    _text("source"),  # "violation:<id>", "complaint:<id>", ...
    _required("issued_by"),
    _required("issued_at"),
    *_case_columns(),
    sqlite_autoincrement=True,
)
Index("sv_orders_site", sv_orders.c.site, sv_orders.c.issued_at)

sv_commendations = Table(
    "sv_commendations",
    metadata,
    _serial(),
    _required("site"),
    _required("company"),
    _required("at"),
    _required("what"),
    _text("source", nullable=False, default="''"),
    _required("issued_by"),
    sqlite_autoincrement=True,
)

sv_ratings = Table(  # a published half-year rating, frozen
    "sv_ratings",
    metadata,
    Column("period", Text, nullable=False),
    Column("company", Text, nullable=False),
    Column("standard_version", Integer, nullable=False),
    _required("score"),  # exact decimal as text
    _required("level"),
    Column("rank", Integer, nullable=False),
    _required("published_at"),
    _required("published_by"),
    _required("items"),  # JSON: the traceable score items
    PrimaryKeyConstraint("period", "company"),
)

# ---------------------------------------------------------------------- faces (pedestrian_gate)

face_sites = Table(
    "face_sites",
    metadata,
    Column("site", Text, primary_key=True),
    Column("version", Integer, nullable=False),
)

face_persons = Table(
    "face_persons",
    metadata,
    Column("person", Text, primary_key=True),
    _required("site"),
    _required("role"),
    _required("created_at"),
    CheckConstraint("role IN ('resident', 'blacklist')", name="face_persons_role"),
)

face_encodings = Table(
    "face_encodings",
    metadata,
    _serial(),
    Column("person", Text, ForeignKey("face_persons.person", ondelete="CASCADE"), nullable=False),
    Column("sealed", LargeBinary, nullable=False),  # AES-GCM (models.face_bundle)
    _required("created_at"),
)
Index("face_encodings_person", face_encodings.c.person)

face_consents = Table(
    "face_consents",
    metadata,
    _serial(),
    Column("person", Text, ForeignKey("face_persons.person", ondelete="CASCADE"), nullable=False),
    _required("consent_by"),
    _required("purpose"),
    _required("given_at"),
    _required("expires_at"),
)

face_erasures = Table(
    "face_erasures",
    metadata,
    _serial(),
    _required("person"),
    _required("site"),
    _required("erased_at"),
    _required("operator"),
    _required("reason"),
    Column("encodings_erased", Integer, nullable=False),
    Column("consents_erased", Integer, nullable=False),
    Column("bundle_version", Integer, nullable=False),
)

face_credentials = Table(
    "face_credentials",
    metadata,
    _serial(),
    _required("site"),
    _required("person"),
    _required("kind"),
    Column("sealed", LargeBinary, nullable=False),
    _required("created_at"),
    UniqueConstraint("person", "kind"),
    CheckConstraint("kind IN ('pin', 'card')", name="face_credentials_kind"),
)
Index("face_credentials_site", face_credentials.c.site, face_credentials.c.kind)

face_revoked_passes = Table(  # visitor QR passes every gate of the site refuses
    "face_revoked_passes",
    metadata,
    _required("site"),
    _required("pass_id"),
    _required("revoked_at"),
    _required("operator"),
    _required("reason"),
    Column("bundle_version", Integer, nullable=False),
    PrimaryKeyConstraint("site", "pass_id"),
)

face_credential_changes = Table(
    "face_credential_changes",
    metadata,
    _serial(),
    _required("site"),
    _required("person"),
    _required("kind"),
    _required("action"),
    _required("operator"),
    _required("changed_at"),
    Column("bundle_version", Integer, nullable=False),
    CheckConstraint("action IN ('set', 'remove', 'erase')", name="face_credential_changes_action"),
)
