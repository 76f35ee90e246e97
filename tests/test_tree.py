"""Every package and module says what it is for (``scripts/tree.py`` prints the tree from
these docstrings, so the READMEs keep no module tables that go stale)."""

from __future__ import annotations

import ast
import subprocess
import sys

from models.site import PROJECT_ROOT

PACKAGES = ("models", "transport", "recognition", "edge", "hub", "simulators", "anju_cli")


def test_every_module_has_a_docstring() -> None:
    missing = [
        str(path.relative_to(PROJECT_ROOT))
        for package in PACKAGES
        for path in (PROJECT_ROOT / package).rglob("*.py")
        if not ast.get_docstring(ast.parse(path.read_text(encoding="utf-8")))
    ]
    assert missing == []


def test_the_tree_prints() -> None:
    out = subprocess.run(
        [sys.executable, str(PROJECT_ROOT / "scripts" / "tree.py"), "edge"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    assert "edge/vehicle_gate/  Vehicle gates" in out and "pipeline.py  " in out
