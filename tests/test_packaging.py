"""The wheel ships every package of the tree: an editable install hides a missing entry."""

from __future__ import annotations

from pathlib import Path

import tomllib

ROOT = Path(__file__).resolve().parents[1]


def _declared() -> tuple[set[str], dict[str, str]]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    return set(config["packages"]), config["package-dir"]


def test_every_package_directory_is_declared() -> None:
    declared, package_dir = _declared()
    found = set()
    for prefix, folder in package_dir.items():
        for init in (ROOT / folder).rglob("__init__.py"):
            relative = init.parent.relative_to(ROOT / folder)
            found.add(".".join((prefix, *relative.parts)))
    assert found <= declared, sorted(found - declared)
    assert declared <= found, sorted(declared - found)
