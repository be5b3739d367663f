"""A real webhook receiver for tests: a threaded HTTP server on 127.0.0.1.

It records every request (raw body and headers, as sent) and answers from a
script: fail N times, hang, answer 429 with Retry-After, or any status.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

# A hanging answer never holds a handler thread longer than this.
MAX_HANG_SECONDS = 5.0


@dataclass(frozen=True)
class Answer:
    """One scripted answer; ``hang`` seconds pass before it is sent."""

    status: int = 200
    body: bytes = b"ok"
    headers: dict[str, str] = field(default_factory=dict)
    hang: float = 0.0


@dataclass(frozen=True)
class Received:
    """One request as it arrived."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    at: float

    def header(self, name: str) -> str | None:
        for key, value in self.headers.items():
            if key.lower() == name.lower():
                return value
        return None


class Receiver:
    """Records requests and answers them from a script, then with ``default``."""

    def __init__(self, port: int = 0) -> None:
        self.requests: list[Received] = []
        self.default = Answer()
        self._script: deque[Answer] = deque()
        self._changed = threading.Condition()
        self._released = threading.Event()
        self._server = ThreadingHTTPServer(("127.0.0.1", port), _handler_for(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), daemon=True
        )

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def url(self, path: str = "/hook") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._released.set()
        if self._thread.is_alive():
            # shutdown() waits for serve_forever(), so only once it runs.
            self._server.shutdown()
            self._thread.join(timeout=5)
        self._server.server_close()

    def answer(self, *answers: Answer) -> None:
        """Answer the next requests with these, in order."""
        with self._changed:
            self._script.extend(answers)

    def fail(self, times: int, status: int = 500) -> None:
        self.answer(*[Answer(status, b"not now")] * times)

    def release(self) -> None:
        """End every hang now."""
        self._released.set()

    def wait_for(self, count: int, within: float = 5.0) -> list[Received]:
        deadline = time.monotonic() + within
        with self._changed:
            while len(self.requests) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(
                        f"{len(self.requests)} of {count} requests within {within} s"
                    )
                self._changed.wait(left)
            return list(self.requests)

    def _record(self, request: Received) -> Answer:
        with self._changed:
            self.requests.append(request)
            self._changed.notify_all()
            return self._script.popleft() if self._script else self.default

    def _hang(self, seconds: float) -> None:
        self._released.wait(min(seconds, MAX_HANG_SECONDS))


def _handler_for(receiver: Receiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length)
            request = Received(
                self.command,
                self.path,
                dict(self.headers.items()),
                body,
                time.monotonic(),
            )
            answer = receiver._record(request)
            if answer.hang:
                receiver._hang(answer.hang)
            try:
                self.send_response(answer.status)
                for name, value in answer.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(answer.body)))
                self.end_headers()
                self.wfile.write(answer.body)
            except OSError:
                # The client gave up (it timed out); nobody is left to answer.
                self.close_connection = True

        def log_message(self, format: str, *args: object) -> None:
            return None

    return Handler


def running_receiver() -> Iterator[Receiver]:
    """For a fixture: a started receiver, stopped afterwards."""
    receiver = Receiver()
    receiver.start()
    try:
        yield receiver
    finally:
        receiver.stop()
