"""Subcommands load on first use: an install without a command's libraries still runs the
others, and the missing one says which extra to install."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from typer.core import TyperGroup

from anju_cli.lazy import LazyCommand, load


def test_a_command_whose_library_is_missing_names_the_extra(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "needs_missing.py").write_text("import not_an_installed_package_xyz\napp = 1\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    command = load("thing", LazyCommand("needs_missing:app", "Does a thing.", "hub"))
    assert "needs anju[hub]" in (command.help or "")
    result = CliRunner().invoke(command, ["--whatever"])
    assert result.exit_code == 2
    assert "not_an_installed_package_xyz" in result.output
    assert "pip install 'anju[hub]'" in result.output
    sys.modules.pop("needs_missing", None)


def test_our_own_import_errors_are_not_hidden() -> None:
    with pytest.raises(ModuleNotFoundError):
        load("x", LazyCommand("anju_cli.no_such_module:app", "", "hub"))


def test_a_one_command_app_stays_a_group() -> None:
    command = load("retention", LazyCommand("anju_cli.retention:retention_app", "", "hub"))
    assert isinstance(command, TyperGroup) and "run" in command.commands
