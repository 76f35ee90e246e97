"""The pure broker policy: usernames carry the site, each user's ACL block is least
privilege, the conf and bridge stanza say what docs/security.md promises, and the repo's
config/mosquitto/ is what the generator makes of config/lakeside.yaml (no drift)."""

from __future__ import annotations

from pathlib import Path, PurePosixPath

import pytest

from anju_cli.broker import pki
from anju_cli.broker.files import LayoutPlan, write_layout
from anju_cli.broker.policy import (
    Bridge,
    BrokerFiles,
    BrokerUser,
    Listener,
    PolicyError,
    Role,
    acl_block,
    acl_text,
    bridge_conf,
    edge_users,
    hub_users,
    mosquitto_conf,
)
from models.site import PROJECT_ROOT, load_site_config
from models.topics import Wildcard
from tests.transport.broker_layout import community

REPO_CONFIG = PROJECT_ROOT / "config" / "mosquitto"


def _allowed(block: list[str], access: str, topic: str) -> bool:
    return any(
        line.split()[1] in (access, "readwrite") and Wildcard(line.split()[2]).matches(topic)
        for line in block
        if line.startswith("topic ")
    )


def test_edge_usernames_carry_the_site() -> None:
    users = edge_users(load_site_config())
    assert [u.username for u in users][:2] == ["edge-north@lakeside", "edge-south@lakeside"]
    assert users[0].password_env == "ANJU_EDGE_NORTH_PASSWORD"


def test_a_config_naming_another_username_is_refused_with_key_and_file() -> None:
    site = load_site_config()
    edge = site.edges[0]
    wrong = edge.model_copy(
        update={"credentials": edge.credentials.model_copy(update={"username": "edge-north"})}  # type: ignore[union-attr]
    )
    site = site.model_copy(update={"edges": [wrong, *site.edges[1:]]})
    with pytest.raises(PolicyError, match=r"lakeside.yaml: edges\[0\].credentials.username"):
        edge_users(site, "lakeside.yaml")


def test_edge_block_is_its_own_device_and_site_only() -> None:
    block = acl_block(BrokerUser("edge-north@lakeside", Role.EDGE, "lakeside", "edge-north"))
    assert _allowed(block, "write", "anju/lakeside/edge-north/events/plate_read")
    assert _allowed(block, "write", "anju/lakeside/edge-north/available")
    assert _allowed(block, "read", "anju/lakeside/edge-north/cmd/gate")
    assert _allowed(block, "read", "anju/lakeside/sync/vehicles")
    assert not _allowed(block, "write", "anju/hillside/edge-north/events/plate_read")
    assert not _allowed(block, "write", "anju/lakeside/edge-south/events/plate_read")
    assert not _allowed(block, "write", "anju/lakeside/edge-north/cmd/gate")
    assert not _allowed(block, "write", "anju/lakeside/sync/vehicles")
    assert not _allowed(block, "read", "anju/hillside/sync/vehicles")
    assert not _allowed(block, "read", "anju/lakeside/edge-south/cmd/gate")


def test_bridge_block_is_one_site_and_hub_writes_only_commands_and_sync() -> None:
    bridge = acl_block(BrokerUser("bridge@lakeside", Role.BRIDGE, "lakeside"))
    assert _allowed(bridge, "write", "anju/lakeside/edge-south/events/x")
    assert not _allowed(bridge, "write", "anju/hillside/edge-south/events/x")
    assert not _allowed(bridge, "read", "anju/hillside/sync/vehicles")
    hub = acl_block(hub_users(["anju-hub"])[0])
    assert _allowed(hub, "read", "anju/hillside/edge-south/events/x")
    assert _allowed(hub, "write", "anju/hillside/edge-south/cmd/gate")
    assert not _allowed(hub, "write", "anju/hillside/edge-south/events/x")


def test_acl_has_no_patterns_and_no_duplicate_users() -> None:
    users = [*hub_users(["anju-hub"]), *edge_users(load_site_config())]
    text = acl_text(users)
    assert "pattern" not in [line.split()[0] for line in text.splitlines() if line.strip()]
    with pytest.raises(PolicyError, match="defined twice: anju-hub"):
        acl_text([*users, users[0]])
    with pytest.raises(PolicyError, match="hub user"):
        hub_users(["evil@lakeside"])


def test_conf_refuses_anonymous_uses_username_as_client_id_after_the_listener() -> None:
    files = BrokerFiles(PurePosixPath("/etc/m"), PurePosixPath("/var/lib/m"))
    lines = mosquitto_conf(files, Listener(8883, None, True)).splitlines()
    assert "allow_anonymous false" in lines and "require_certificate true" in lines
    # before any listener line mosquitto would open a plain 1883 listener for it
    assert lines.index("use_username_as_clientid true") > lines.index("listener 8883")
    assert not any(line.startswith("listener 1883") for line in lines)
    assert "include_dir" not in "\n".join(lines)
    assert "include_dir /etc/m/conf.d" in mosquitto_conf(files, Listener(), bridges=True)


def test_bridge_stanza_directions_and_queueing() -> None:
    p = PurePosixPath("/x")
    text = bridge_conf(Bridge("lakeside", ("county:8883",), p, p, p), "pw")
    lines = text.splitlines()
    assert "cleansession false" in lines and "remote_username bridge@lakeside" in lines
    assert "topic anju/lakeside/+/events/+ out 1" in lines
    assert "topic anju/lakeside/sync/+ in 1" in lines
    assert "topic anju/lakeside/+/cmd/+ in 1" in lines
    assert not any(" both " in line or "anju/#" in line for line in lines)
    with pytest.raises(PolicyError, match="HOST:PORT"):
        bridge_conf(Bridge("lakeside", ("county",), p, p, p), "pw")


def test_certificates_chain_to_the_ca() -> None:
    from cryptography import x509

    ca = pki.new_ca("test")
    leaf = pki.issue(ca, "edge-north@lakeside")
    server = pki.issue(ca, "broker", server_names=["localhost", "127.0.0.1"])
    ca_cert = x509.load_pem_x509_certificate(ca.cert_pem)
    for issued in (leaf, server):
        x509.load_pem_x509_certificate(issued.cert_pem).verify_directly_issued_by(ca_cert)
    assert pki.common_name(leaf.cert_pem) == "edge-north@lakeside"


def test_rerun_keeps_passwords_rotate_renews_and_removed_edges_are_revoked(
    tmp_path: Path,
) -> None:
    site = community("lakeside")
    plan = LayoutPlan(sites=[(site, "lakeside.yaml")], out=tmp_path)
    first = write_layout(plan).passwords
    cert = (tmp_path / "clients" / "edge-north@lakeside" / "client.crt").read_bytes()
    plan.rotate = ["edge-north@lakeside"]
    plan.sites = [(site.model_copy(update={"edges": site.edges[:3]}), "lakeside.yaml")]
    second = write_layout(plan).passwords
    assert second["anju-hub"] == first["anju-hub"]
    assert second["edge-north@lakeside"] != first["edge-north@lakeside"]
    assert (tmp_path / "clients" / "edge-north@lakeside" / "client.crt").read_bytes() != cert
    assert "edge-carpark@lakeside" not in second
    assert not (tmp_path / "clients" / "edge-carpark@lakeside").exists()
    passwd = (tmp_path / "brokers" / "community" / "anju.passwd").read_text()
    assert "edge-carpark@lakeside" not in passwd and "edge-north@lakeside:$7$" in passwd
    assert (tmp_path / "secrets.json").stat().st_mode & 0o077 == 0


def test_repo_config_mosquitto_is_what_the_generator_makes(tmp_path: Path) -> None:
    write_layout(
        LayoutPlan(
            sites=[(load_site_config(), "config/lakeside.yaml")],
            out=tmp_path,
            install_dir=PurePosixPath("/etc/mosquitto/anju"),
            persistence_dir=PurePosixPath("/var/lib/mosquitto"),
            config_only=True,
        )
    )
    for name in ("mosquitto.conf", "anju.acl"):
        assert (tmp_path / name).read_text() == (REPO_CONFIG / name).read_text(), (
            f"config/mosquitto/{name} is stale: re-run the command in docs/security.md"
        )
