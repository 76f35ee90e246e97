"""``anju console`` account commands on a real hub database."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from anju_cli.console import console_app


def test_add_list_disable_users(tmp_path: Path, monkeypatch) -> None:
    runner = CliRunner()
    data = str(tmp_path / "hub")
    monkeypatch.setenv("GUARD_PW", "a-long-guard-password")
    r = runner.invoke(
        console_app,
        ["add-user", "guard1", "--role", "guard", "--scope", "lakeside",
         "--password-env", "GUARD_PW", "--data", data],
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    r = runner.invoke(
        console_app,
        ["add-user", "guard2", "--role", "guard", "--scope", "nowhere",
         "--password-env", "GUARD_PW", "--data", data],
    )  # fmt: skip
    assert r.exit_code == 2 and "community" in r.output
    r = runner.invoke(console_app, ["list-users", "--data", data])
    assert "guard1" in r.output and "lakeside" in r.output and "active" in r.output
    assert "guard2" not in r.output
    assert runner.invoke(console_app, ["disable-user", "guard1", "--data", data]).exit_code == 0
    assert "disabled" in runner.invoke(console_app, ["list-users", "--data", data]).output
    assert runner.invoke(console_app, ["disable-user", "guard1", "--data", data]).exit_code == 1
