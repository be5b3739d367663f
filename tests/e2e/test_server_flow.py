"""The real server in a subprocess, driven over HTTP as a client would."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

pytestmark = pytest.mark.e2e

SECONDS = 1 / 60  # an interval of one second, in minutes


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    """`eventtrigger serve` on a free loopback port, with its own data folder."""

    def __init__(self, data_dir: Path, env: dict[str, str] | None = None) -> None:
        self.port = free_port()
        self.data_dir = data_dir
        self.env = dict(env or {})
        self.process: subprocess.Popen[bytes] | None = None
        self.base = f"http://127.0.0.1:{self.port}"

    def start(self, role: str = "all") -> None:
        script = Path(sys.executable).with_name("eventtrigger")
        env = {
            **os.environ,
            "EVENTTRIGGER_DATA_DIR": str(self.data_dir),
            "EVENTTRIGGER_PORT": str(self.port),
            "EVENTTRIGGER_POLL_INTERVAL_SECONDS": "0.2",
            **self.env,
        }
        with open(self.data_dir / "server.log", "ab") as log:
            self.process = subprocess.Popen(
                [str(script), "serve", "--role", role],
                env=env,
                stdout=log,
                stderr=log,
            )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                if httpx.get(self.base + "/healthz", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                time.sleep(0.1)
        self.kill()
        raise AssertionError("server did not answer /healthz within 20 s")

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill()


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    running = Server(tmp_path)
    running.start()
    yield running
    running.stop()


def login(base: str) -> dict[str, str]:
    body = {"username": "ada", "password": "correct horse"}
    assert httpx.post(base + "/auth/register", json=body).status_code == 201
    answer = httpx.post(base + "/auth/login", json=body)
    assert answer.status_code == 200
    return {"Authorization": f"Bearer {answer.json()['token']}"}


def scheduled_firings(base: str, headers: dict[str, str], trigger_id: str) -> list:
    answer = httpx.get(
        base + "/api/v1/event-logs",
        params={"trigger_id": trigger_id, "limit": 500},
        headers=headers,
    )
    assert answer.status_code == 200
    items = [e for e in answer.json()["items"] if e["reason"] == "scheduled"]
    return sorted(items, key=lambda e: e["due_at"])


def wait_for_firings(
    base: str, headers: dict[str, str], trigger_id: str, count: int, within: float
) -> list:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        firings = scheduled_firings(base, headers, trigger_id)
        if len(firings) >= count:
            return firings
        time.sleep(0.2)
    raise AssertionError(f"fewer than {count} firings within {within} s")


def test_seed_readme_flow(server: Server) -> None:
    base = server.base
    headers = login(base)

    created = httpx.post(
        base + "/trigger/create-trigger",
        headers=headers,
        json={
            "trigger_type": "scheduled",
            "schedule_time": "2024-12-15T11:10:00",
            "interval": 30,
            "is_recurring": True,
        },
    )
    trigger_id = created.json()["trigger_id"]
    listed = httpx.get(base + "/trigger/list-triggers", headers=headers)
    fired = httpx.post(base + f"/trigger/trigger_event/{trigger_id}", headers=headers)
    tested = httpx.post(base + f"/trigger/test_trigger/{trigger_id}", headers=headers)
    updated = httpx.put(
        base + f"/trigger/update-trigger/{trigger_id}",
        headers=headers,
        json={"schedule_time": "2024-12-15T12:00:00", "is_recurring": False},
    )
    deleted = httpx.delete(
        base + f"/trigger/delete-trigger/{trigger_id}", headers=headers
    )
    after = httpx.get(base + "/trigger/list-triggers", headers=headers)

    assert created.status_code == 201
    assert created.json()["message"] == "Trigger created successfully"
    assert [t["trigger_id"] for t in listed.json()] == [trigger_id]
    assert fired.json()["message"] == "Event triggered successfully!"
    assert tested.json()["message"] == "Test event triggered successfully!"
    assert updated.json()["message"] == "Trigger updated successfully!"
    assert updated.json()["trigger"]["status"] == "completed"
    assert deleted.json()["message"] == "Trigger deleted successfully!"
    assert after.json() == []


def test_recurring_trigger_fires_by_itself_and_survives_sigkill(
    server: Server,
) -> None:
    base = server.base
    headers = login(base)
    first_due = datetime.now(UTC) + timedelta(seconds=2)
    created = httpx.post(
        base + "/api/v1/triggers",
        headers=headers,
        json={
            "trigger_type": "scheduled",
            "schedule_time": first_due.isoformat(),
            "interval": SECONDS,
            "is_recurring": True,
            "misfire_grace_seconds": 0.5,
        },
    )
    assert created.status_code == 201
    trigger_id = created.json()["trigger_id"]

    before = wait_for_firings(base, headers, trigger_id, 2, within=15)
    for firing in before:
        lateness = datetime.fromisoformat(firing["fired_at"]) - datetime.fromisoformat(
            firing["due_at"]
        )
        assert timedelta(0) <= lateness < timedelta(milliseconds=500)
    server.kill()
    time.sleep(3.5)
    server.start()
    after = wait_for_firings(base, headers, trigger_id, len(before) + 2, within=15)
    server.stop()

    due_times = [datetime.fromisoformat(f["due_at"]) for f in after]
    assert len(set(due_times)) == len(due_times), "a due time was recorded twice"
    covered = sum(f["covered_count"] for f in after)
    expected = round((due_times[-1] - due_times[0]).total_seconds()) + 1
    assert covered == expected, "a due time was lost"
    assert any(f["misfired"] and f["covered_count"] >= 3 for f in after)
