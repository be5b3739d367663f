"""Builds the image and waits for its healthcheck, where a Docker engine answers."""

from __future__ import annotations

import shutil
import subprocess
import time
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def docker_engine_answers() -> bool:
    if shutil.which("docker") is None:
        return False
    probe = subprocess.run(["docker", "info"], capture_output=True, timeout=20)
    return probe.returncode == 0


pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(not docker_engine_answers(), reason="no Docker engine"),
]


def docker(*args: str, timeout: float = 600) -> str:
    done = subprocess.run(
        ["docker", *args], capture_output=True, text=True, timeout=timeout
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_image_becomes_healthy_and_runs_as_non_root() -> None:
    tag = f"eventtrigger-test:{uuid.uuid4().hex[:8]}"
    docker("build", "-t", tag, str(ROOT))
    container = docker("run", "-d", "--rm", tag)
    try:
        status = ""
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and status != "healthy":
            time.sleep(1)
            status = docker(
                "inspect", "--format", "{{.State.Health.Status}}", container
            )
        user = docker("exec", container, "id", "-u")
    finally:
        docker("rm", "-f", container)
        docker("rmi", "-f", tag)

    assert status == "healthy"
    assert user == "10001"
