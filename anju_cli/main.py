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

import typer

from models.site import EXAMPLE_SITE, ConfigError

app = typer.Typer(
    name="anju",
    help="Anju (安居): edge-to-hub security controller for residential communities.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

SiteOption = typer.Option(EXAMPLE_SITE, "--site", help="site config YAML", exists=False)
BrokerOption = typer.Option(
    "mqtt://127.0.0.1:1883", "--broker", help="MQTT broker URL (mqtt://[user:pass@]host:port)"
)
DataOption = typer.Option(Path("data"), "--data", help="directory for databases and outboxes")


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


@app.command()
def hub(
    site: list[Path] = typer.Option([EXAMPLE_SITE], "--site", help="site config (repeatable)"),
    broker: str = BrokerOption,
    data: Path = DataOption,
    verbose: bool = typer.Option(False, "-v", "--verbose"),
) -> None:
    """Run the hub: ingest events, store them, raise violations."""
    _setup_logging(verbose)
    from hub.service import run_hub

    try:
        asyncio.run(run_hub(site, broker, data))
    except ConfigError as exc:
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
    verbose: bool = typer.Option(False, "-v", "--verbose"),
) -> None:
    """Run one edge agent (gate control, recognition, outbox to the hub)."""
    _setup_logging(verbose)
    from edge.agent import run_edge

    try:
        asyncio.run(run_edge(site, device, broker, data, simulate))
    except ConfigError as exc:
        raise _fail(str(exc)) from None
    except KeyboardInterrupt:
        pass


@app.command()
def sim(
    site: Path = SiteOption,
    broker: str = BrokerOption,
    data: Path = DataOption,
    duration: float | None = typer.Option(None, "--duration", help="seconds; default: forever"),
    seed: int = typer.Option(1, "--seed"),
    verbose: bool = typer.Option(False, "-v", "--verbose"),
) -> None:
    """Run every edge of a site on simulated hardware with a scenario loop (no hub)."""
    _setup_logging(verbose)
    from anju_cli.demo import DemoOptions, run_demo

    options = DemoOptions(
        site=site, broker=broker, data=data, duration=duration, seed=seed, with_hub=False
    )
    try:
        summary = asyncio.run(run_demo(options))
    except ConfigError as exc:
        raise _fail(str(exc)) from None
    typer.echo(json.dumps(summary, ensure_ascii=False))


@app.command()
def demo(
    site: Path = SiteOption,
    broker: str | None = typer.Option(
        None, "--broker", help="use this MQTT broker instead of the embedded one"
    ),
    data: Path = typer.Option(Path("data/demo"), "--data", help="where the hub keeps its database"),
    duration: float | None = typer.Option(
        None, "--duration", help="seconds; default: until Ctrl-C"
    ),
    seed: int = typer.Option(1, "--seed", help="scenario seed"),
    anonymous: bool = typer.Option(
        False, "--anonymous", help="connect to --broker without the edges' credentials"
    ),
    verbose: bool = typer.Option(False, "-v", "--verbose"),
) -> None:
    """A whole simulated community: broker, hub, edges and a scenario loop, on one machine."""
    _setup_logging(verbose)
    from anju_cli.demo import DemoOptions, run_demo

    options = DemoOptions(
        site=site, broker=broker, data=data, duration=duration, seed=seed, anonymous=anonymous
    )
    try:
        summary = asyncio.run(run_demo(options))
    except ConfigError as exc:
        raise _fail(str(exc)) from None
    typer.echo(json.dumps(summary, ensure_ascii=False))


def _register_optional_commands() -> None:
    """Commands whose implementation lives in other packages (LPR, faces)."""
    try:
        from edge.lpr.cli import lpr_main
    except ImportError:  # pragma: no cover - only while the package is missing
        pass
    else:
        app.command("lpr", help="Read licence plates in images (like `alpr -j`).")(lpr_main)
    try:
        from hub.faces.cli import face_app
    except ImportError:  # pragma: no cover
        pass
    else:
        app.add_typer(face_app, name="face", help="Face enrolment (with consent), identify, erase.")


_register_optional_commands()

if __name__ == "__main__":
    app()
