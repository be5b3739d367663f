from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from eventsourcing.persistence import IntegrityError

from eventtrigger.group_commit import GroupCommit


class SlowStore:
    """Records what each save call held; the first call waits to be released,
    so the others queue up behind it as they would behind an fsync."""

    def __init__(self, refuse: set[str] | None = None) -> None:
        self.calls: list[list[str]] = []
        self.release = threading.Event()
        self.refuse = refuse or set()

    def save(self, *aggregates: Any) -> None:
        if not self.calls:
            self.calls.append(list(aggregates))
            self.release.wait(5)
        else:
            self.calls.append(list(aggregates))
        if self.refuse & set(aggregates):
            raise IntegrityError("someone else recorded it first")


def wait_until(condition: Any) -> None:
    deadline = time.monotonic() + 5
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.001)


def save_from_threads(
    commit: GroupCommit, names: list[str], outcomes: dict[str, Any]
) -> list[threading.Thread]:
    def run(name: str) -> None:
        try:
            commit.save(name)
            outcomes[name] = "saved"
        except IntegrityError as error:
            outcomes[name] = error

    threads = [threading.Thread(target=run, args=(n,)) for n in names]
    for thread in threads:
        thread.start()
    return threads


def test_commands_arriving_during_a_commit_share_the_next_one() -> None:
    store = SlowStore()
    commit = GroupCommit(store.save)
    outcomes: dict[str, Any] = {}
    threads = save_from_threads(commit, ["a"], outcomes)
    wait_until(lambda: store.calls)
    threads += save_from_threads(commit, ["b", "c", "d"], outcomes)
    wait_until(lambda: len(commit._queue) == 3)

    store.release.set()
    for thread in threads:
        thread.join(5)

    assert [sorted(call) for call in store.calls] == [["a"], ["b", "c", "d"]]
    assert outcomes == {"a": "saved", "b": "saved", "c": "saved", "d": "saved"}


def test_a_refused_batch_fails_every_command_in_it() -> None:
    store = SlowStore(refuse={"c"})
    commit = GroupCommit(store.save)
    outcomes: dict[str, Any] = {}
    threads = save_from_threads(commit, ["a"], outcomes)
    wait_until(lambda: store.calls)
    threads += save_from_threads(commit, ["b", "c"], outcomes)
    wait_until(lambda: len(commit._queue) == 2)

    store.release.set()
    for thread in threads:
        thread.join(5)

    assert {name: type(outcome) for name, outcome in outcomes.items()} == {
        "a": str,
        "b": IntegrityError,
        "c": IntegrityError,
    }


def test_an_unexpected_error_reaches_the_caller() -> None:
    def broken(*aggregates: Any) -> None:
        raise RuntimeError("disk gone")

    with pytest.raises(RuntimeError):
        GroupCommit(broken).save("a")


def test_a_failed_commit_leaves_the_next_save_a_leader() -> None:
    calls = []

    def fails_once(*aggregates: Any) -> None:
        calls.append(aggregates)
        if len(calls) == 1:
            raise RuntimeError("disk gone")

    commit = GroupCommit(fails_once)
    with pytest.raises(RuntimeError):
        commit.save("a")

    commit.save("b")

    assert calls == [("a",), ("b",)]


class GatedStore:
    """Each save call waits for its own gate to open."""

    def __init__(self, calls: int) -> None:
        self.gates = [threading.Event() for _ in range(calls)]
        self.calls: list[list[str]] = []
        self.callers: list[str] = []

    def save(self, *aggregates: Any) -> None:
        index = len(self.calls)
        self.calls.append(list(aggregates))
        self.callers.append(threading.current_thread().name)
        self.gates[index].wait(5)


def test_a_leader_answers_without_waiting_for_the_batch_after_its_own() -> None:
    store = GatedStore(calls=2)
    commit = GroupCommit(store.save)
    outcomes: dict[str, Any] = {}
    threads = save_from_threads(commit, ["a"], outcomes)
    wait_until(lambda: store.calls)
    threads += save_from_threads(commit, ["b", "c"], outcomes)
    wait_until(lambda: len(commit._queue) == 2)

    store.gates[0].set()
    wait_until(lambda: "a" in outcomes and len(store.calls) == 2)
    answered_while_second_commits = dict(outcomes)
    store.gates[1].set()
    for thread in threads:
        thread.join(5)

    assert answered_while_second_commits == {"a": "saved"}
    assert [sorted(call) for call in store.calls] == [["a"], ["b", "c"]]
    # The second batch was led by one of its own callers, not by "a".
    assert store.callers[1] in {threads[1].name, threads[2].name}
    assert outcomes == {"a": "saved", "b": "saved", "c": "saved"}
