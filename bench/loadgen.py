"""A small HTTP/1.1 load generator: asyncio streams, keep-alive connections.

Run as ``python -m bench.loadgen SPEC.json``; it prints one JSON object.
The spec names the port on 127.0.0.1, the number of connections, how long
to run, a cap on requests, and for each connection the raw requests it sends
in turn. Each connection sends one request, reads the whole response, and
sends the next: latency is from the first byte written to the last read.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.stats import spread

HOST = "127.0.0.1"
HEADER_END = b"\r\n\r\n"
LENGTH = b"\r\ncontent-length:"


@dataclass
class Tally:
    latencies: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)
    failures: int = 0

    def note(self, status: int, seconds: float) -> None:
        self.latencies.append(seconds)
        self.statuses[status] = self.statuses.get(status, 0) + 1


async def read_response(reader: asyncio.StreamReader) -> int:
    head = await reader.readuntil(HEADER_END)
    status = int(head[9:12])
    lowered = head.lower()
    at = lowered.find(LENGTH)
    if at >= 0:
        end = lowered.index(b"\r\n", at + 2)
        await reader.readexactly(int(lowered[at + len(LENGTH) : end]))
    elif b"transfer-encoding: chunked" in lowered:
        await _read_chunks(reader)
    return status


async def _read_chunks(reader: asyncio.StreamReader) -> None:
    while True:
        size = int((await reader.readuntil(b"\r\n")).strip(), 16)
        await reader.readexactly(size + 2)
        if size == 0:
            return


class Budget:
    def __init__(self, seconds: float, max_requests: int) -> None:
        self.deadline = time.perf_counter() + seconds
        self.left = max_requests

    def take(self) -> bool:
        if self.left <= 0 or time.perf_counter() >= self.deadline:
            return False
        self.left -= 1
        return True


async def connection(
    port: int, requests: list[bytes], budget: Budget, tally: Tally
) -> None:
    reader, writer = await asyncio.open_connection(HOST, port)
    index = 0
    try:
        while budget.take():
            request = requests[index % len(requests)]
            index += 1
            started = time.perf_counter()
            writer.write(request)
            status = await read_response(reader)
            tally.note(status, time.perf_counter() - started)
    except (OSError, asyncio.IncompleteReadError, ValueError):
        tally.failures += 1
    finally:
        writer.close()


async def run(spec: dict[str, Any]) -> dict[str, Any]:
    budget = Budget(spec["duration"], spec["max_requests"])
    tally = Tally()
    per_connection = [[r.encode("latin-1") for r in rs] for rs in spec["requests"]]
    cpu = time.process_time()
    started = time.perf_counter()
    await asyncio.gather(
        *(connection(spec["port"], rs, budget, tally) for rs in per_connection)
    )
    elapsed = time.perf_counter() - started
    return summary(tally, elapsed, time.process_time() - cpu, spec["expect"])


def summary(
    tally: Tally, elapsed: float, cpu: float, expect: list[int]
) -> dict[str, Any]:
    latency = spread([s * 1000 for s in tally.latencies])
    unexpected = sum(n for code, n in tally.statuses.items() if code not in expect)
    return {
        "requests": len(tally.latencies),
        "rps": len(tally.latencies) / elapsed,
        "p50_ms": latency["p50"],
        "p99_ms": latency["p99"],
        "max_ms": latency["max"],
        "statuses": {str(k): v for k, v in tally.statuses.items()},
        "unexpected": unexpected,
        "failures": tally.failures,
        "elapsed_s": elapsed,
        "loadgen_cpu_percent": cpu / elapsed * 100,
    }


def main(path: str) -> None:
    spec = json.loads(Path(path).read_text())
    result = asyncio.run(run(spec))
    sys.stdout.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main(sys.argv[1])
