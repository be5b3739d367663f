"""The HTTP API: the real server over loopback, driven by bench.loadgen.

`eventtrigger serve --role api` runs as a subprocess on a free 127.0.0.1 port
with its data prepared beforehand: a reader with 1,000 triggers (GET one,
list a page of 100), a writer (create) and a firer with one api trigger per
connection (fire; connections never contend for one trigger's stream).
"""

from __future__ import annotations

import http.client
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, Any

from bench.procs import child_env, free_port, stop, venv_command, wait_for_port
from bench.store import (
    SECRET,
    api_trigger,
    every_minutes,
    open_service,
    store_triggers,
)
from eventtrigger.passwords import hash_password

PASSWORD = "bench password, not a secret"
READER, WRITER, FIRER = "bench-reader", "bench-writer", "bench-firer"
MAX_CONNECTIONS = 16
MAX_REQUESTS = 500_000
START_SECONDS = 30
CREATE_BODY = json.dumps(
    {
        "trigger_type": "scheduled",
        "schedule_time": "2035-01-01T00:00:00Z",
        "interval": 60,
        "is_recurring": True,
    }
)

Builder = Callable[[int], list[str]]


@dataclass
class Fixture:
    folder: Path
    reader_triggers: list[str]
    fire_triggers: list[str]


def prepare(folder: Path, triggers: int) -> Fixture:
    service = open_service(folder)
    try:
        reader, _, firer = (
            service.register_user(name, PASSWORD) for name in (READER, WRITER, FIRER)
        )
        first = datetime.now(UTC) + timedelta(hours=1)
        ids = store_triggers(
            service,
            triggers,
            lambda i: every_minutes(first + timedelta(seconds=i), 60),
            lambda i: reader,
        )
        fire_ids = store_triggers(
            service, MAX_CONNECTIONS, lambda i: api_trigger(), lambda i: firer
        )
        for conn in range(MAX_CONNECTIONS):
            service.register_user(login_user(conn), PASSWORD)
        return Fixture(folder, ids, fire_ids)
    finally:
        service.close()


class Server:
    """A server subprocess on a free port, its output in a log file."""

    def __init__(self, command: list[str], env: dict[str, str], log: Path) -> None:
        self.port = free_port()
        self.command = [part.format(port=self.port) for part in command]
        self.env = env
        self.log_path = log
        self.process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    def __enter__(self) -> Server:
        self._log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            self.command, env=self.env, stdout=self._log, stderr=self._log
        )
        wait_for_port(self.port, self.process, START_SECONDS)
        return self

    def __exit__(self, *exc: object) -> None:
        if self.process is not None:
            stop(self.process)
        if self._log is not None:
            self._log.close()

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid


def ours(fixture: Fixture, log: Path) -> Server:
    env = child_env(
        EVENTTRIGGER_DATA_DIR=str(fixture.folder), EVENTTRIGGER_JWT_SECRET=SECRET
    )
    command = [venv_command("eventtrigger"), "serve", "--role", "api"]
    return Server([*command, "--port", "{port}"], env, log)


def empty_starlette(log: Path) -> Server:
    command = [sys.executable, "-m", "bench.empty_app", "{port}"]
    return Server(command, child_env(), log)


def login(port: int, username: str) -> str:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        body = json.dumps({"username": username, "password": PASSWORD})
        headers = {"Content-Type": "application/json"}
        connection.request("POST", "/auth/login", body, headers)
        response = connection.getresponse()
        payload = json.loads(response.read())
        if response.status != 200:
            raise RuntimeError(f"login failed: {response.status} {payload}")
        return str(payload["token"])
    finally:
        connection.close()


# Requests ----------------------------------------------------------------------


def raw(port: int, method: str, path: str, token: str = "", body: str = "") -> str:
    lines = [f"{method} {path} HTTP/1.1", f"Host: 127.0.0.1:{port}"]
    if token:
        lines.append(f"Authorization: Bearer {token}")
    if method == "POST":
        lines.append("Content-Type: application/json")
        lines.append(f"Content-Length: {len(body.encode())}")
    return "\r\n".join(lines) + "\r\n\r\n" + body


@dataclass(frozen=True)
class Workload:
    name: str
    build: Builder
    expect: tuple[int, ...]


def workloads(port: int, fixture: Fixture, tokens: dict[str, str]) -> list[Workload]:
    reader, writer, firer = tokens[READER], tokens[WRITER], tokens[FIRER]
    ids = fixture.reader_triggers
    v1 = "/api/v1/triggers"

    def get_one(conn: int) -> list[str]:
        # Each connection walks the 1,000 triggers from its own offset.
        order = ids[conn * 61 % len(ids) :] + ids[: conn * 61 % len(ids)]
        return [raw(port, "GET", f"{v1}/{i}", reader) for i in order[:200]]

    return [
        Workload("GET one", get_one, (200,)),
        Workload(
            "list 100 of 1,000",
            lambda conn: [raw(port, "GET", f"{v1}?limit=100", reader)],
            (200,),
        ),
        Workload(
            "create",
            lambda conn: [raw(port, "POST", v1, writer, CREATE_BODY)],
            (201,),
        ),
        Workload(
            "fire",
            lambda conn: [
                raw(port, "POST", f"{v1}/{fixture.fire_triggers[conn]}/fire", firer)
            ],
            (201,),
        ),
    ]


def login_user(conn: int) -> str:
    """One user per connection: parallel attempts on one name meet the limiter."""
    return f"bench-login-{conn}"


def login_workload(port: int) -> Workload:
    def build(conn: int) -> list[str]:
        body = json.dumps({"username": login_user(conn), "password": PASSWORD})
        return [raw(port, "POST", "/auth/login", body=body)]

    return Workload("login", build, (200,))


def empty_workload(port: int) -> Workload:
    return Workload("empty JSON", lambda conn: [raw(port, "GET", "/")], (200,))


# Driving the load generator ----------------------------------------------------


def load(
    port: int, workload: Workload, connections: int, seconds: float
) -> dict[str, Any]:
    """Run bench.loadgen in its own process, so it has a core of its own."""
    spec = {
        "port": port,
        "duration": seconds,
        "max_requests": MAX_REQUESTS,
        "requests": [workload.build(c) for c in range(connections)],
        "expect": list(workload.expect),
    }
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as handle:
        json.dump(spec, handle)
    try:
        done = subprocess.run(
            [sys.executable, "-m", "bench.loadgen", handle.name],
            env=child_env(),
            capture_output=True,
            text=True,
            timeout=seconds + 60,
            check=True,
        )
    finally:
        Path(handle.name).unlink()
    return dict(json.loads(done.stdout))


def hash_cost_ms(times: int = 5) -> list[float]:
    """What one password hash costs in this process (the login's floor)."""
    costs = []
    for _ in range(times):
        started = time.perf_counter()
        hash_password(PASSWORD)
        costs.append((time.perf_counter() - started) * 1000)
    return costs
