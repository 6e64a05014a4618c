"""The container image, the two-shard compose file and the systemd unit: what they run and how, checked
against Parley's own settings; Docker validates and builds them where it is available."""

from __future__ import annotations

import configparser
import re
import shutil
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.__main__ import EXIT_CONFIGURATION
from bot.settings import settings_from

ROOT = Path(__file__).resolve().parent.parent
COMPOSE = ROOT / "compose.yaml"
DOCKERFILE = ROOT / "Dockerfile"
UNIT = ROOT / "deploy" / "parley.service"
SHUTDOWN_GRACE_S = 30  # the default of SHUTDOWN_GRACE_S


def compose() -> dict[str, Any]:
    loaded = yaml.safe_load(COMPOSE.read_text())
    assert isinstance(loaded, dict)
    return loaded


def shard_services() -> dict[str, dict[str, Any]]:
    return {name: service for name, service in compose()["services"].items() if name.startswith("shard-")}


def seconds(duration: str) -> int:
    match = re.fullmatch(r"(\d+)s", duration)
    assert match, duration
    return int(match.group(1))


def test_the_shard_processes_run_every_shard_once_on_one_postgresql_and_one_redis() -> None:
    services = shard_services()
    assert len(services) == 2
    shards: list[int] = []
    for service in services.values():
        # The environment a shard process reads, as Parley's settings would take it.
        environment = {"DISCORD_TOKEN": "t", "GEMINI_API_KEY": "k", **service["environment"]}
        settings = settings_from(environment)
        assert settings.shard_count == len(services)
        assert settings.shard_ids is not None
        shards += settings.shard_ids
        assert settings.database_url.startswith("postgresql+asyncpg://parley:")
        assert settings.database_url.endswith("@postgres:5432/parley")
        assert environment["REDIS_URL"] == "redis://redis:6379/0"
        assert service["depends_on"] == {
            "postgres": {"condition": "service_healthy"},
            "redis": {"condition": "service_healthy"},
        }
        assert service["env_file"] == ".env", "the secrets come from .env, never from compose.yaml"
        assert seconds(service["stop_grace_period"]) > SHUTDOWN_GRACE_S
        assert service["restart"] == "unless-stopped"
        probe = " ".join(service["healthcheck"]["test"])
        assert f"http://127.0.0.1:{settings.metrics_port}/metrics" in probe, "healthy when serving metrics"
    assert sorted(shards) == [0, 1]


def test_postgresql_keeps_its_data_in_a_volume_and_both_stores_report_their_health() -> None:
    services = compose()["services"]
    assert "postgres-data:/var/lib/postgresql/data" in services["postgres"]["volumes"]
    assert "postgres-data" in compose()["volumes"]
    assert "pg_isready" in " ".join(services["postgres"]["healthcheck"]["test"])
    assert services["redis"]["healthcheck"]["test"] == ["CMD", "redis-cli", "ping"]


def test_the_image_is_slim_non_root_and_installed_from_the_lock() -> None:
    dockerfile = DOCKERFILE.read_text()
    stages = re.findall(r"^FROM (\S+)", dockerfile, re.MULTILINE)
    assert stages
    assert all(image.endswith("-slim") for image in stages)
    requires = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["requires-python"]
    version = re.fullmatch(r"python:(\d+)\.(\d+)-slim", stages[-1])
    assert version, stages[-1]
    assert requires == ">=3.11"
    assert (int(version.group(1)), int(version.group(2))) >= (3, 11)
    assert "--require-hashes -r requirements/base.lock" in dockerfile
    assert "--no-deps ." in dockerfile, "Parley itself adds no unlocked dependency"
    users = re.findall(r"^USER (\S+)", dockerfile, re.MULTILINE)
    assert users
    assert users[-1] not in ("root", "0")
    assert dockerfile.rstrip().endswith('ENTRYPOINT ["python", "-m", "bot"]')
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert {".env", ".venv", ".git"} <= set(ignored), "no secret and no local environment in the image"


def test_the_systemd_unit_runs_python_m_bot_and_does_not_restart_a_refused_configuration() -> None:
    unit = configparser.ConfigParser(strict=False, interpolation=None)
    unit.optionxform = str  # type: ignore[assignment,method-assign]
    unit.read_string(UNIT.read_text())
    service = unit["Service"]
    assert service["ExecStart"].endswith(" -m bot")
    assert service["RestartPreventExitStatus"] == str(EXIT_CONFIGURATION)
    assert service["KillSignal"] == "SIGTERM"
    assert int(service["TimeoutStopSec"]) > SHUTDOWN_GRACE_S
    assert service["User"] != "root"


def docker_works(*probe: str) -> bool:
    if shutil.which("docker") is None:
        return False
    return subprocess.run(["docker", *probe], capture_output=True, timeout=30).returncode == 0


def test_docker_compose_config_validates(tmp_path: Path) -> None:
    if not docker_works("compose", "version"):
        pytest.skip("docker compose is not installed here: compose.yaml was checked above, not by Docker")
    (tmp_path / ".env").write_text("DISCORD_TOKEN=t\nGEMINI_API_KEY=k\n")
    shutil.copy(COMPOSE, tmp_path / "compose.yaml")
    checked = subprocess.run(
        ["docker", "compose", "--project-directory", str(tmp_path), "config", "--quiet"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert checked.returncode == 0, checked.stderr


def test_the_image_builds() -> None:
    if not docker_works("info"):
        pytest.skip("no Docker daemon here: the image is not built in this run")
    built = subprocess.run(
        ["docker", "build", "--quiet", "-t", "parley:test", str(ROOT)],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert built.returncode == 0, built.stderr
