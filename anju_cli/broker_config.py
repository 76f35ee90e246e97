"""``anju broker-config``: generate the production mosquitto setup from the site configs
(see anju_cli/broker/ and docs/security.md)."""

from __future__ import annotations

from pathlib import Path, PurePosixPath

import typer

from anju_cli.broker.files import LayoutPlan, write_layout
from anju_cli.broker.policy import DEFAULT_HUB_USER, Listener, PolicyError
from models.site import ConfigError, load_site_config


def broker_config_main(
    site: list[Path] = typer.Option(..., "--site", help="site config (repeatable)"),
    out: Path = typer.Option(..., "--out", help="directory to write (kept across runs)"),
    hub_user: list[str] = typer.Option(
        [DEFAULT_HUB_USER], "--hub-user", help="broker user of a hub worker (repeatable)"
    ),
    county_bridge: list[str] = typer.Option(
        [],
        "--county-bridge",
        help="HOST:PORT of the county broker: one broker per community, "
        "bridged to it (repeat for fail-over addresses)",
    ),
    install_dir: str | None = typer.Option(
        None, "--install-dir", help="where OUT will be on the broker hosts (default: OUT)"
    ),
    port: int = typer.Option(8883, "--port", help="TLS listener port"),
    bind: str | None = typer.Option(None, "--bind", help="listen address (default: all)"),
    server_name: list[str] = typer.Option(
        ["localhost", "127.0.0.1"], "--server-name", help="DNS name / IP clients dial (repeatable)"
    ),
    require_certificate: bool = typer.Option(
        True,
        "--require-certificate/--no-require-certificate",
        help="clients must also show a certificate from this CA",
    ),
    persistence_dir: str | None = typer.Option(
        None, "--persistence-dir", help="mosquitto's persistence_location (default: DIR/data)"
    ),
    rotate: list[str] = typer.Option([], "--rotate", help="renew this user's password and cert"),
    config_only: bool = typer.Option(
        False, "--config-only", help="only mosquitto.conf and the ACL (no secrets)"
    ),
) -> None:
    """Generate mosquitto.conf, password file (mosquitto_passwd), ACL, a CA with server and
    per-device client certificates, and per-device env files; with --county-bridge also the
    county broker and each community's bridge to it."""  # fmt: skip
    try:
        sites = [(load_site_config(path), str(path)) for path in site]
        result = write_layout(
            LayoutPlan(
                sites=sites,
                out=out,
                install_dir=PurePosixPath(install_dir) if install_dir else None,
                hub_users=hub_user,
                county_bridges=county_bridge,
                listener=Listener(port, bind, require_certificate),
                server_names=server_name,
                persistence_dir=PurePosixPath(persistence_dir) if persistence_dir else None,
                rotate=rotate,
                config_only=config_only,
            )
        )
    except (ConfigError, PolicyError) as exc:
        typer.secho(f"error: {exc}", err=True, fg="red")
        raise typer.Exit(2) from None
    for broker in result.brokers:
        typer.echo(f"broker {broker.name}: {broker.directory} ({len(broker.users)} users)")
    for user, directory in result.clients.items():
        typer.echo(f"client {user}: {directory}")
    if not config_only:
        typer.echo(f"passwords: {out / 'secrets.json'} (mode 0600); hand each client its dir")
