"""Subcommands loaded on first use, so each install runs what it has.

An edge device installs ``anju[edge]`` (no web, database or report libraries); the hub
``anju[hub]`` (no OCR). ``anju --help`` lists every command either way; a command whose
libraries this install lacks says which extra to install instead of failing on import.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any

import click
import typer
from typer.core import TyperGroup


@dataclass(frozen=True, slots=True)
class LazyCommand:
    target: str  # "module:attribute": a typer.Typer, or a function to wrap as one command
    help: str
    extra: str  # the install extra that brings its libraries


LAZY_COMMANDS: dict[str, LazyCommand] = {
    "lpr": LazyCommand("anju_cli.lpr:lpr_main", "Read licence plates in images (like `alpr -j`).",
                       "edge"),
    "face": LazyCommand("anju_cli.face:face_app",
                        "Face enrolment (with consent), identify, erase; PINs, cards.", "hub"),
    "report": LazyCommand("anju_cli.supervision:report_main",
                          "Write the half-year credit disclosure (HTML, PDF, CSV) for a period.",
                          "hub"),
    "supervision": LazyCommand("anju_cli.supervision:app",
                               "Complaints, orders, ratings (监管记录).", "hub"),
    "console": LazyCommand("anju_cli.console:console_app",
                           "Console accounts (guards, managers, ...).", "hub"),
    "broker-config": LazyCommand("anju_cli.broker_config:broker_config_main",
                                 "Generate mosquitto config, passwords, ACL and certificates.",
                                 "hub"),
    "retention": LazyCommand("anju_cli.retention:retention_app",
                             "Purge old evidence, events, face data.", "hub"),
}  # fmt: skip


def _ours(module: str | None) -> bool:
    root = (module or "").split(".")[0]
    return root in ("anju_cli", "edge", "hub", "models", "recognition", "simulators", "transport")


def load(name: str, spec: LazyCommand) -> click.Command:
    module, attribute = spec.target.split(":")
    try:
        target: Any = getattr(importlib.import_module(module), attribute)
    except ModuleNotFoundError as exc:
        if _ours(exc.name):
            raise
        return _missing(name, spec, str(exc.name))
    if isinstance(target, typer.Typer):
        command = typer.main.get_group(target)  # a group even with one subcommand
    else:
        single = typer.Typer(add_completion=False)
        single.command(name, help=spec.help)(target)
        command = typer.main.get_command(single)
    command.name = name
    command.help = command.help or spec.help
    return command


def _missing(name: str, spec: LazyCommand, module: str) -> click.Command:
    def explain() -> None:
        click.secho(
            f"`anju {name}` needs {module!r}, which this install lacks: "
            f"pip install 'anju[{spec.extra}]'",
            err=True,
            fg="red",
        )
        raise SystemExit(2)

    return click.Command(
        name,
        callback=explain,
        help=f"{spec.help} (needs anju[{spec.extra}])",
        context_settings={"ignore_unknown_options": True, "allow_extra_args": True},
    )


class LazyGroup(TyperGroup):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *LAZY_COMMANDS})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        spec = LAZY_COMMANDS.get(cmd_name)
        if spec is not None:
            return load(cmd_name, spec)
        return super().get_command(ctx, cmd_name)
