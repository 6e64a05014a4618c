"""The dependency locks pin every dependency pyproject.toml declares, within its range, with hashes."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parent.parent
_PIN = re.compile(r"^([A-Za-z0-9._-]+)==([^\s;\\]+)", re.MULTILINE)


def pinned(lock: str) -> dict[str, str]:
    """Package name → pinned version, from a lock file."""
    return {canonicalize_name(name): version for name, version in _PIN.findall(lock)}


def declared(extras: tuple[str, ...]) -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    names = list(project["dependencies"])
    for extra in extras:
        names += project["optional-dependencies"][extra]
    return [Requirement(name) for name in names]


@pytest.mark.parametrize(("lock_name", "extras"), [("base", ()), ("dev", ("dev",))])
def test_every_declared_dependency_is_pinned_within_its_range(
    lock_name: str, extras: tuple[str, ...]
) -> None:
    lock = (ROOT / "requirements" / f"{lock_name}.lock").read_text()
    versions = pinned(lock)
    for requirement in declared(extras):
        name = canonicalize_name(requirement.name)
        assert name in versions, f"{requirement.name} is not in {lock_name}.lock: run scripts/lock"
        assert requirement.specifier.contains(versions[name], prereleases=True), (
            f"{lock_name}.lock pins {name}=={versions[name]}, outside {requirement}: run scripts/lock"
        )
    entries = [entry for entry in re.split(r"\n(?=\S)", lock) if _PIN.match(entry)]
    assert all("--hash=sha256:" in entry for entry in entries), "every pin carries its hashes"
