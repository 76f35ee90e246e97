"""Print the code tree with each package's and module's first docstring line.

    python scripts/tree.py [PACKAGE ...]      # default: every top-level package

The READMEs describe the parts and how they work together; what each module is for lives
in its own docstring, and this prints them, so no hand-kept module table goes stale.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("models", "transport", "recognition", "edge", "hub", "simulators", "anju_cli")


def first_line(path: Path) -> str:
    doc = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8")))
    return doc.strip().splitlines()[0] if doc else ""


def walk(package: Path, depth: int = 0) -> list[str]:
    lines = []
    init = package / "__init__.py"
    indent = "  " * depth
    lines.append(
        f"{indent}{package.relative_to(ROOT)}/  {first_line(init) if init.exists() else ''}"
    )
    for module in sorted(package.glob("*.py")):
        if module.name != "__init__.py":
            lines.append(f"{indent}  {module.name}  {first_line(module)}")
    for sub in sorted(p for p in package.iterdir() if p.is_dir() and (p / "__init__.py").exists()):
        lines.extend(walk(sub, depth + 1))
    return lines


def main(names: list[str]) -> None:
    for name in names or PACKAGES:
        print("\n".join(walk(ROOT / name)))


if __name__ == "__main__":
    main(sys.argv[1:])
