"""pyproject.toml declares what requirements.txt pins, and the `utal` console script points at the CLI."""

from __future__ import annotations

import importlib
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

REPO = Path(__file__).resolve().parents[1]


def _pinned() -> dict[str, str]:
    """requirements.txt as canonical name -> pinned version."""
    pins = {}
    for line in (REPO / "requirements.txt").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            requirement = Requirement(line)
            (specifier,) = requirement.specifier
            assert specifier.operator == "==", f"{line}: requirements.txt pins exact versions"
            pins[canonicalize_name(requirement.name)] = specifier.version
    return pins


def _declared() -> dict[str, Requirement]:
    """pyproject's dependencies and optional dependencies, by canonical name."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    lines = project["dependencies"] + [line for extra in project["optional-dependencies"].values() for line in extra]
    return {canonicalize_name(Requirement(line).name): Requirement(line) for line in lines}


def test_pyproject_declares_every_pinned_requirement_and_admits_its_pin() -> None:
    pinned, declared = _pinned(), _declared()
    assert sorted(pinned) == sorted(declared)
    for name, version in pinned.items():
        assert declared[name].specifier.contains(version), f"{name}=={version} is outside {declared[name]}"


def test_console_script_is_the_cli_main() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert set(project["scripts"]) == {"utal"}
    module, _, attribute = project["scripts"]["utal"].partition(":")
    from utal_core.cli import main

    assert getattr(importlib.import_module(module), attribute) is main
