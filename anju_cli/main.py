"""The `anju` command: hub, edge, simulators, demo and tools.

Imports are lazy so that `anju --help` and light commands start fast (OpenCV,
dlib and onnxruntime load only where a command needs them).
"""

from __future__ import annotations

import asyncio
import json
import logging
import sys
from pathlib import Path
from typing import Any

import typer

from anju_cli.lazy import LazyGroup
from anju_cli.options import db_option
from models.site import EXAMPLE_SITE, ConfigError

app = typer.Typer(
    name="anju",
    cls=LazyGroup,  # lpr, face, report, supervision, console, retention: loaded on first use
    help="Anju (安居): edge-to-hub security controller for residential communities.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

SiteOption = typer.Option(EXAMPLE_SITE, "--site", help="site config YAML", exists=False)
BrokerOption = typer.Option(
    "mqtt://127.0.0.1:1883", "--broker", help="MQTT broker URL (mqtt://[user:pass@]host:port)"
)
DataOption = typer.Option(
    Path("data"), "--data", help="data directory: evidence, keys, outboxes; the SQLite database"
)


def _setup_logging(verbose: bool) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
        stream=sys.stderr,
    )


def _fail(message: str) -> typer.Exit:
    typer.secho(message, err=True, fg=typer.colors.RED)
    return typer.Exit(2)


@app.command()
def schema(
    out: Path = typer.Option(Path("docs/schema"), "--out", help="directory to write into"),
) -> None:
    """Write JSON Schema files for every MQTT message kind (for integrators)."""
    from models.messages import json_schemas

    out.mkdir(parents=True, exist_ok=True)
    for name, doc in json_schemas().items():
        (out / f"{name}.schema.json").write_text(
            json.dumps(doc, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
        )
    typer.echo(f"wrote {len(json_schemas())} schemas to {out}")


@app.command("check-config")
def check_config(paths: list[Path] = typer.Argument(..., help="site config files")) -> None:
    """Validate site config files; errors name the file, the key path and the reason."""
    from models.site import load_site_config

    failed = False
    for path in paths:
        try:
            site = load_site_config(path)
        except ConfigError as exc:
            typer.secho(str(exc), err=True, fg=typer.colors.RED)
            failed = True
            continue
        typer.echo(f"{path}: ok ({site.site.id}: {len(site.edges)} edges, {len(site.gates)} gates)")
    if failed:
        raise typer.Exit(2)


CaFileOption = typer.Option(
    None, "--ca-file", envvar="ANJU_MQTT_CA_FILE", help="CA certificate of the broker (MQTT TLS)"
)
CertOption = typer.Option(
    None, "--cert", envvar="ANJU_MQTT_CERT", help="client certificate (MQTT TLS)"
)
KeyOption = typer.Option(None, "--key", envvar="ANJU_MQTT_KEY", help="client key for --cert")
UsernameOption = typer.Option(
    None, "--username", help="broker user (default: ANJU_HUB_USERNAME, else anju-hub)"
)
PasswordFileOption = typer.Option(
    None, "--password-file", help="file holding the broker password (or ANJU_HUB_PASSWORD[_FILE])"
)


def _hub_credentials(username: str | None, password_file: Path | None) -> Any:
    """The hub's broker login: --password-file, else the environment; never the YAML."""
    from transport import Credentials, read_secret

    env = Credentials.from_env("ANJU_HUB", default_username="anju-hub")
    if password_file is not None:
        user = username or (env.username if env else None) or "anju-hub"
        return Credentials(user, read_secret(password_file, "--password-file"))
    if env is not None and username:
        return Credentials(username, env.password)
    return env


def _tls(ca_file: Path | None, cert: Path | None, key: Path | None) -> Any:
    """TLS settings from the command line, or None (an ``mqtts://`` URL alone uses the
    system CAs)."""
    from transport import TlsSettings

    if ca_file is None and cert is None and key is None:
        return None
    return TlsSettings(ca_file=ca_file, cert_file=cert, key_file=key)


def _console_tls(cert: Path | None, key: Path | None) -> tuple[Path, Path] | None:
    if cert is None and key is None:
        return None
    if cert is None or key is None or not cert.is_file() or not key.is_file():
        raise _fail("--console-cert and --console-key: give both, as existing files")
    return cert, key


@app.command()
def hub(
    site: list[Path] = typer.Option([EXAMPLE_SITE], "--site", help="site config (repeatable)"),
    broker: str = BrokerOption,
    data: Path = DataOption,
    db: str | None = db_option(),
    ca_file: Path | None = CaFileOption,
    cert: Path | None = CertOption,
    key: Path | None = KeyOption,
    username: str | None = UsernameOption,
    password_file: Path | None = PasswordFileOption,
    console_host: str = typer.Option("127.0.0.1", "--console-host"),
    console_port: int = typer.Option(8080, "--console-port", help="web console port"),
    console_cert: Path | None = typer.Option(None, "--console-cert", help="serve https: cert"),
    console_key: Path | None = typer.Option(None, "--console-key", help="key for --console-cert"),
    trusted_proxy: list[str] = typer.Option(
        [], "--trusted-proxy", help="reverse proxy address whose X-Forwarded-For is believed"
    ),
    no_console: bool = typer.Option(False, "--no-console", help="do not serve the web console"),
    ops_host: str = typer.Option(
        "127.0.0.1", "--ops-host", help="address of /metrics, /healthz, /readyz"
    ),
    ops_port: int = typer.Option(9108, "--ops-port", help="port of /metrics, /healthz, /readyz"),
    no_ops: bool = typer.Option(False, "--no-ops", help="no /metrics, /healthz, /readyz"),
    keys: Path | None = typer.Option(
        None,
        "--keys",
        help="key directory: hub.key signs every command and list, edges pin hub.pub"
        " (created on first run; default DATA/keys)",
    ),
    verbose: bool = typer.Option(False, "-v", "--verbose"),
) -> None:
    """Run the hub: ingest events, store them, raise violations, serve the console.

    /metrics (Prometheus), /healthz and /readyz are served on --ops-host:--ops-port
    (loopback by default), whether the console runs or not.

    Broker login: --username/--password-file, or ANJU_HUB_USERNAME (default anju-hub) with
    ANJU_HUB_PASSWORD or ANJU_HUB_PASSWORD_FILE, or user:pass@ in --broker; none means
    anonymous. TLS: --ca-file/--cert/--key (or ANJU_MQTT_CA_FILE/_CERT/_KEY).

    --data is the data directory (evidence files, keys); --db the database, by default
    DATA/hub.db (SQLite). With --db postgresql://... the hub ingests, runs the rules and
    the gate commands; the console, deadlines, face sync and retention need SQLite so far."""
    _setup_logging(verbose)
    from hub.app import ConsoleOptions, HubApp, OpsOptions
    from models.site import load_site_config
    from transport import AddressError

    try:
        app_ = HubApp(
            [load_site_config(path) for path in site],
            broker_url=broker,
            data_dir=data,
            credentials=_hub_credentials(username, password_file),
            tls=_tls(ca_file, cert, key),
            console=None
            if no_console
            else ConsoleOptions(
                console_host,
                console_port,
                trusted_proxies=tuple(trusted_proxy),
                tls=_console_tls(console_cert, console_key),
            ),
            ops=None if no_ops else OpsOptions(ops_host, ops_port),
            keys_dir=keys,
            db=db,
        )
        asyncio.run(app_.run_forever())
    except (ConfigError, AddressError, ConnectionError) as exc:
        raise _fail(str(exc)) from None
    except KeyboardInterrupt:
        pass


@app.command()
def edge(
    device: str = typer.Option(..., "--device", help="edge id from the site config"),
    site: Path = SiteOption,
    broker: str = BrokerOption,
    data: Path = DataOption,
    simulate: bool = typer.Option(
        False, "--simulate", help="simulated camera/relay/sensors instead of hardware"
    ),
    ca_file: Path | None = CaFileOption,
    cert: Path | None = CertOption,
    key: Path | None = KeyOption,
    hub_key: list[Path] = typer.Option(
        [],
        "--hub-key",
        help="hub public key file to pin (hub.pub of `anju hub --keys`; repeatable)",
    ),
    verbose: bool = typer.Option(False, "-v", "--verbose"),
) -> None:
    """Run one edge agent (gate control, recognition, outbox to the hub).

    Broker login: the edge's ``credentials`` in the site config (password from the
    environment variable or file it names, never from the YAML)."""
    _setup_logging(verbose)
    from edge.agent import run_edge
    from transport import AddressError

    hardware = None
    if simulate:
        from simulators.hardware import simulated_factories

        hardware = simulated_factories
    try:
        tls = _tls(ca_file, cert, key)
        asyncio.run(run_edge(site, device, broker, data, hardware, tls=tls, hub_keys=hub_key))
    except (ConfigError, AddressError) as exc:
        raise _fail(str(exc)) from None
    except KeyboardInterrupt:
        pass


@app.command()
def loadgen(
    devices: int = typer.Option(10, "--devices", min=1, help="virtual edge devices"),
    rate: float = typer.Option(1000.0, "--rate", min=0.1, help="events per second, all devices"),
    duration: float = typer.Option(
        10.0, "--duration", min=0.0, help="seconds of publishing (0: only send what is queued)"
    ),
    broker: str = BrokerOption,
    site: Path | None = typer.Option(
        None, "--site", help="site config whose edges to play (default: a synthetic site)"
    ),
    data: Path = typer.Option(Path("data/loadgen"), "--data", help="the devices' outboxes"),
    processes: int = typer.Option(2, "--processes", min=1, help="publisher processes"),
    drain_timeout: float = typer.Option(
        60.0, "--drain-timeout", help="seconds to wait for the outboxes to empty"
    ),
    seed: int = typer.Option(1, "--seed"),
    write_site: Path | None = typer.Option(
        None, "--write-site", help="only write the synthetic site config (for the hub) and exit"
    ),
    ca_file: Path | None = CaFileOption,
    cert: Path | None = CertOption,
    key: Path | None = KeyOption,
    verbose: bool = typer.Option(False, "-v", "--verbose"),
) -> None:
    """Publish a realistic mix (plate reads with crops, decisions, slot states, heartbeats)
    from virtual edges through the real edge outbox; print a JSON summary.

    Without --site, the hub must run with the synthetic site: `anju loadgen --write-site
    site.yaml --devices N`, then `anju hub --site site.yaml`. With --site, each virtual
    edge logs in with that edge's ``credentials`` (password from the environment or a file)."""
    _setup_logging(verbose)
    from anju_cli import loadgen as lg

    if write_site is not None:
        typer.echo(str(lg.write_site(write_site, devices)))
        return
    try:
        config, path = lg.load_plan_site(site, devices, data)
        plan = lg.LoadPlan(
            broker=broker,
            site=config,
            devices=devices,
            rate=rate,
            duration_s=duration,
            data_dir=data,
            processes=processes,
            seed=seed,
            drain_timeout_s=drain_timeout,
            tls=None
            if _tls(ca_file, cert, key) is None
            else tuple(str(p) if p else None for p in (ca_file, cert, key)),  # type: ignore[arg-type]
        )
        summary = lg.run_load(plan)
    except (ConfigError, ValueError) as exc:
        raise _fail(str(exc)) from None
    summary["site_config"] = str(path)
    typer.echo(json.dumps(summary, ensure_ascii=False))
    if summary["undelivered"]:
        raise typer.Exit(1)


@app.command()
def sim(
    site: Path = SiteOption,
    broker: str = BrokerOption,
    data: Path = DataOption,
    duration: float | None = typer.Option(None, "--duration", help="seconds; default: forever"),
    seed: int = typer.Option(1, "--seed"),
    anonymous: bool = typer.Option(
        False, "--anonymous", help="connect without the edges' credentials (dev brokers)"
    ),
    ca_file: Path | None = CaFileOption,
    cert: Path | None = CertOption,
    key: Path | None = KeyOption,
    verbose: bool = typer.Option(False, "-v", "--verbose"),
) -> None:
    """Run every edge of a site on simulated hardware with a scenario loop (no hub).

    Broker login: each edge's ``credentials`` in the site config (password from the
    environment or a file); TLS: --ca-file/--cert/--key (one client certificate for all)."""
    _run_community(
        verbose,
        tls=(ca_file, cert, key),
        site=site,
        broker=broker,
        data=data,
        duration=duration,
        seed=seed,
        with_hub=False,
        anonymous=anonymous,
    )


@app.command()
def demo(
    site: Path = SiteOption,
    broker: str | None = typer.Option(
        None, "--broker", help="use this MQTT broker instead of the embedded one"
    ),
    data: Path = typer.Option(
        Path("data/demo"), "--data", help="data directory: the hub's hub.db, evidence, outboxes"
    ),
    duration: float | None = typer.Option(
        None, "--duration", help="seconds; default: until Ctrl-C"
    ),
    seed: int = typer.Option(1, "--seed", help="scenario seed"),
    console_port: int = typer.Option(8080, "--console-port", help="web console port (0: any free)"),
    no_console: bool = typer.Option(False, "--no-console", help="do not serve the web console"),
    anonymous: bool = typer.Option(
        False, "--anonymous", help="connect to --broker without the edges' credentials"
    ),
    ca_file: Path | None = CaFileOption,
    cert: Path | None = CertOption,
    key: Path | None = KeyOption,
    username: str | None = UsernameOption,
    password_file: Path | None = PasswordFileOption,
    verbose: bool = typer.Option(False, "-v", "--verbose"),
) -> None:
    """A whole simulated community: broker, hub, edges and a scenario loop, on one machine.

    With --broker: the hub logs in like `anju hub` (--username/--password-file or
    ANJU_HUB_*), the edges with their site-config credentials, TLS with --ca-file/..."""
    _run_community(
        verbose,
        tls=(ca_file, cert, key),
        hub_credentials=(username, password_file),
        site=site,
        broker=broker,
        data=data,
        duration=duration,
        seed=seed,
        anonymous=anonymous,
        console_port=None if no_console else console_port,
    )


def _run_community(
    verbose: bool,
    *,
    tls: tuple[Path | None, Path | None, Path | None],
    hub_credentials: tuple[str | None, Path | None] = (None, None),
    **options: Any,
) -> None:
    """`anju demo` / `anju sim`: run the simulated community, print the JSON summary."""
    _setup_logging(verbose)
    from anju_cli.demo.community import DemoOptions, run_demo
    from transport import AddressError

    try:
        if options.get("broker"):
            options["tls"] = _tls(*tls)
            options["hub_credentials"] = _hub_credentials(*hub_credentials)
        summary = asyncio.run(run_demo(DemoOptions(**options)))
    except (ConfigError, AddressError) as exc:
        raise _fail(str(exc)) from None
    typer.echo(json.dumps(summary, ensure_ascii=False))


if __name__ == "__main__":
    app()
