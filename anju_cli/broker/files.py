"""Write a broker layout to disk: the CA, each broker's directory (mosquitto.conf, ACL,
password file hashed by ``mosquitto_passwd``, certificates, bridge stanza) and each
client's directory (certificate, key, password, env file) for the installer to hand out.

    OUT/ca/                 ca.crt, ca.key (keep offline; signs every certificate)
    OUT/brokers/community/  one broker for every site given (no --county-bridge), or
    OUT/brokers/county/     the county broker (hub users, one bridge user per site) and
    OUT/brokers/SITE/       each community's broker (its edges, the bridge to the county)
    OUT/clients/USER/       ca.crt, client.crt, client.key, password, env
    OUT/secrets.json        every generated password (mode 0600)

Re-running keeps the CA, passwords and certificates already there, except for the users
named in ``rotate``; a user no longer in the site configs disappears from the password file
and ACL (revoked) and its client directory is removed.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from anju_cli.broker import pki
from anju_cli.broker.policy import (
    DEFAULT_HUB_USER,
    Bridge,
    BrokerFiles,
    BrokerUser,
    ClientFiles,
    Listener,
    PolicyError,
    acl_text,
    bridge_conf,
    bridge_users,
    edge_users,
    env_file,
    hub_users,
    mosquitto_conf,
)
from models.site import SiteConfig

PASSWD_TOOL = "mosquitto_passwd"
SECRET = 0o600


@dataclass
class LayoutPlan:
    sites: Sequence[tuple[SiteConfig, str]]  # (config, where it came from, for errors)
    out: Path
    install_dir: PurePosixPath | None = None  # where OUT will be on the brokers (default OUT)
    hub_users: Sequence[str] = (DEFAULT_HUB_USER,)
    county_bridges: Sequence[str] = ()  # host:port of the county broker
    listener: Listener = field(default_factory=Listener)
    ports: dict[str, int] = field(default_factory=dict)  # per broker, overrides listener.port
    server_names: Sequence[str] = ("localhost", "127.0.0.1")
    persistence_dir: PurePosixPath | None = None  # default: each broker's data/
    rotate: Sequence[str] = ()  # usernames whose password and certificate are renewed
    config_only: bool = False  # only mosquitto.conf and the ACL (the repo's sample)


@dataclass
class BrokerResult:
    name: str
    directory: Path
    users: list[BrokerUser]


@dataclass
class LayoutResult:
    brokers: list[BrokerResult]
    clients: dict[str, Path]  # username -> client directory
    passwords: dict[str, str] = field(repr=False, default_factory=dict)


def _write(path: Path, data: str | bytes, mode: int = 0o644) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    raw = data.encode() if isinstance(data, str) else data
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as f:
        f.write(raw)
    os.chmod(tmp, mode)
    os.replace(tmp, path)


def hash_passwords(path: Path, passwords: dict[str, str]) -> None:
    """The mosquitto password file: plain ``user:password`` lines hashed in place by
    ``mosquitto_passwd -U`` (so the hash is exactly mosquitto's own)."""
    tool = shutil.which(PASSWD_TOOL) or (
        "/usr/bin/mosquitto_passwd" if Path("/usr/bin/mosquitto_passwd").exists() else None
    )
    if tool is None:
        raise PolicyError(f"{PASSWD_TOOL} not found: install mosquitto (scripts/system-deps.sh)")
    _write(path, "".join(f"{u}:{p}\n" for u, p in passwords.items()), SECRET)
    done = subprocess.run([tool, "-U", str(path)], capture_output=True, text=True)
    if done.returncode != 0:
        path.unlink(missing_ok=True)
        raise PolicyError(f"{PASSWD_TOOL} -U {path} failed: {done.stderr.strip()}")


def _broker_sets(plan: LayoutPlan) -> list[tuple[str, list[BrokerUser], str | None]]:
    """(broker name, its users, the site it bridges for or None)."""
    hubs = hub_users(plan.hub_users)
    per_site = [(cfg.site.id, edge_users(cfg, src)) for cfg, src in plan.sites]
    ids = [s for s, _ in per_site]
    if len(set(ids)) != len(ids):
        raise PolicyError(f"the same site id given twice: {ids}")
    if not plan.county_bridges:
        return [("community", [*hubs, *(u for _, us in per_site for u in us)], None)]
    brokers: list[tuple[str, list[BrokerUser], str | None]] = [
        ("county", [*hubs, *bridge_users(ids)], None)
    ]
    brokers += [(site, users, site) for site, users in per_site]
    return brokers


def write_layout(plan: LayoutPlan) -> LayoutResult:
    out = plan.out
    install = plan.install_dir or PurePosixPath(out.resolve())
    brokers = _broker_sets(plan)
    all_users = {u.username: u for _, users, _ in brokers for u in users}
    result = LayoutResult([], {})

    if plan.config_only:
        for name, users, bridged in brokers:
            directory = out if len(brokers) == 1 else out / name
            files = _broker_files(plan, install, name)
            _write(directory / "mosquitto.conf", _conf(plan, files, name, bridged is not None))
            _write(directory / "anju.acl", acl_text(users))
            result.brokers.append(BrokerResult(name, directory, users))
        return result

    ca = _load_or_make_ca(out / "ca")
    old = _read_secrets(out / "secrets.json")
    rotate = set(plan.rotate)
    unknown = rotate - set(all_users)
    if unknown:
        raise PolicyError(f"--rotate: no such broker user: {', '.join(sorted(unknown))}")
    passwords = {
        name: old[name] if name in old and name not in rotate else secrets.token_urlsafe(24)
        for name in all_users
    }
    result.passwords = passwords

    clients = out / "clients"
    for name, user in all_users.items():
        directory = clients / name
        cfiles = ClientFiles(PurePosixPath(install) / "clients" / name)
        fresh = name in rotate or not (directory / "client.crt").exists()
        if fresh:
            leaf = pki.issue(ca, name)
            _write(directory / "client.crt", leaf.cert_pem)
            _write(directory / "client.key", leaf.key_pem, SECRET)
        _write(directory / "ca.crt", ca.cert_pem)
        _write(directory / "password", passwords[name] + "\n", SECRET)
        _write(directory / "env", env_file(user, cfiles, passwords[name]), SECRET)
        result.clients[name] = directory
    if clients.is_dir():  # revoked: users no longer in the configs
        for stale in clients.iterdir():
            if stale.name not in all_users and stale.is_dir():
                shutil.rmtree(stale)

    names = list(plan.server_names)
    for name, users, bridged in brokers:
        directory = out / "brokers" / name
        files = _broker_files(plan, install, name)
        server_names = names
        if name == "county":
            server_names = [*names, *(a.rpartition(":")[0] for a in plan.county_bridges)]
        server = directory / "server.crt"
        if not server.exists() or _server_names_changed(directory, server_names):
            leaf = pki.issue(ca, f"anju-broker-{name}", server_names=sorted(set(server_names)))
            _write(server, leaf.cert_pem)
            _write(directory / "server.key", leaf.key_pem, SECRET)
            _write(directory / "server-names", "\n".join(sorted(set(server_names))) + "\n")
        _write(directory / "ca.crt", ca.cert_pem)
        _write(directory / "anju.acl", acl_text(users))
        logins = {u.username: passwords[u.username] for u in users}
        hash_passwords(directory / "anju.passwd", logins)
        (directory / "data").mkdir(parents=True, exist_ok=True)
        if bridged is not None:
            bridge_user = f"bridge@{bridged}"
            leaf_dir = clients / bridge_user
            shutil.copyfile(leaf_dir / "client.crt", directory / "bridge.crt")
            _write(directory / "bridge.key", (leaf_dir / "client.key").read_bytes(), SECRET)
            bridge = Bridge(
                bridged, tuple(plan.county_bridges), files.ca, files.bridge_cert, files.bridge_key
            )
            _write(
                directory / "conf.d" / "bridge.conf",
                bridge_conf(bridge, passwords[bridge_user]),
                SECRET,
            )
        _write(directory / "mosquitto.conf", _conf(plan, files, name, bridged is not None))
        result.brokers.append(BrokerResult(name, directory, users))
    _write(out / "secrets.json", json.dumps(passwords, indent=1, sort_keys=True) + "\n", SECRET)
    return result


def _conf(plan: LayoutPlan, files: BrokerFiles, name: str, bridged: bool) -> str:
    listener = plan.listener
    port = plan.ports.get(name, listener.port)
    return mosquitto_conf(
        files, Listener(port, listener.bind, listener.require_certificate), bridges=bridged
    )


def _broker_files(plan: LayoutPlan, install: PurePosixPath, name: str) -> BrokerFiles:
    directory = install if plan.config_only else install / "brokers" / name
    persistence = plan.persistence_dir or directory / "data"
    return BrokerFiles(directory, persistence)


def _server_names_changed(directory: Path, names: Sequence[str]) -> bool:
    recorded = directory / "server-names"
    wanted = "\n".join(sorted(set(names))) + "\n"
    return not recorded.exists() or recorded.read_text() != wanted


def _load_or_make_ca(directory: Path) -> pki.Issued:
    cert, key = directory / "ca.crt", directory / "ca.key"
    if cert.exists() and key.exists():
        return pki.Issued(cert.read_bytes(), key.read_bytes())
    ca = pki.new_ca("Anju broker CA")
    _write(cert, ca.cert_pem)
    _write(key, ca.key_pem, SECRET)
    return ca


def _read_secrets(path: Path) -> dict[str, str]:
    if not path.exists():
        return {}
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise PolicyError(f"{path}: not JSON ({exc})") from None
    if not isinstance(data, dict) or not all(isinstance(v, str) for v in data.values()):
        raise PolicyError(f"{path}: expected an object of username: password")
    return data
