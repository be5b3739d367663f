"""The command-line tools, run as a person runs them."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from domain.spec import TriggerSpec
from eventtrigger.service import TriggerService
from eventtrigger.settings import Settings
from tests.conftest import FakeClock

SCRIPT = Path(sys.executable).with_name("eventtrigger")


def run_tool(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "EVENTTRIGGER_DATA_DIR": str(data_dir)}
    return subprocess.run(
        [str(SCRIPT), *args], env=env, capture_output=True, text=True, timeout=60
    )


def three_days_of_history(data_dir: Path) -> str:
    clock = FakeClock(datetime.now(UTC) - timedelta(days=3))
    service = TriggerService(Settings(data_dir=data_dir), clock=clock)
    trigger = service.create_trigger("u1", TriggerSpec(trigger_type="api"))
    for _ in range(5):
        clock.advance(minutes=1)
        service.fire_trigger("u1", trigger.trigger_id)
    clock.now = datetime.now(UTC) - timedelta(minutes=1)
    service.fire_trigger("u1", trigger.trigger_id)
    service.close()
    return trigger.trigger_id


def test_compact_verify_replay_and_rebuild_from_the_command_line(
    tmp_path: Path,
) -> None:
    trigger_id = three_days_of_history(tmp_path)

    compacted = run_tool(tmp_path, "compact")
    verified = run_tool(tmp_path, "verify-archives")
    replayed = run_tool(tmp_path, "replay", trigger_id, "--json")
    rebuilt = run_tool(tmp_path, "rebuild-projections", "--verify")

    assert compacted.returncode == 0, compacted.stderr
    assert compacted.stdout.startswith("archived 5 events into 1 file(s)")
    assert verified.returncode == 0
    assert (
        verified.stdout.splitlines()[-1] == "1 archive file(s) verified, chain intact"
    )
    timeline = json.loads(replayed.stdout)
    assert [e["type"] for e in timeline["events"]] == ["Created"] + ["Fired"] * 6
    assert timeline["state"]["fire_count"] == 6
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert "trigger_list: trigger_list 1 rows" in rebuilt.stdout
    assert rebuilt.stdout.count("matches live") == len(rebuilt.stdout.splitlines())


def test_verify_archives_names_a_tampered_file_and_fails(tmp_path: Path) -> None:
    three_days_of_history(tmp_path)
    run_tool(tmp_path, "compact")
    target = tmp_path / "archive" / "events-000001.jsonl.gz"
    data = bytearray(target.read_bytes())
    data[-5] ^= 0xFF
    target.write_bytes(bytes(data))

    verified = run_tool(tmp_path, "verify-archives")

    assert verified.returncode == 1
    assert verified.stderr.startswith("FAILED events-000001.jsonl.gz:")


def test_replay_refuses_an_id_that_is_not_one(tmp_path: Path) -> None:
    three_days_of_history(tmp_path)

    answer = run_tool(tmp_path, "replay", "not-an-id")

    assert answer.returncode == 2
    assert "is not a trigger id" in answer.stderr


def test_tools_refuse_a_data_folder_without_a_database(tmp_path: Path) -> None:
    answer = run_tool(tmp_path / "typo", "replay", "--all")

    assert answer.returncode == 2
    assert "no database at" in answer.stderr
    assert not (tmp_path / "typo").exists()


def test_verify_archives_notices_a_manifest_cut_short(tmp_path: Path) -> None:
    three_days_of_history(tmp_path)
    run_tool(tmp_path, "compact")
    (tmp_path / "archive" / "manifest.jsonl").write_text("")

    verified = run_tool(tmp_path, "verify-archives")

    assert verified.returncode == 1
    assert verified.stderr.startswith("FAILED manifest.jsonl: the manifest ends at")


def test_replay_as_of_shows_only_what_had_happened_by_then(tmp_path: Path) -> None:
    trigger_id = three_days_of_history(tmp_path)
    run_tool(tmp_path, "compact")
    timeline = json.loads(run_tool(tmp_path, "replay", trigger_id, "--json").stdout)
    third = timeline["events"][3]["at"]

    replayed = run_tool(tmp_path, "replay", trigger_id, "--as-of", third, "--json")

    as_of = json.loads(replayed.stdout)
    assert [e["version"] for e in as_of["events"]] == [1, 2, 3, 4]
    assert as_of["state"]["fire_count"] == 3
    assert as_of["deliveries"] == {}


def test_rebuild_refuses_an_archive_with_a_line_taken_out(tmp_path: Path) -> None:
    trigger_id = three_days_of_history(tmp_path)
    run_tool(tmp_path, "compact")
    target = tmp_path / "archive" / "events-000001.jsonl.gz"
    lines = gzip.decompress(target.read_bytes()).splitlines(keepends=True)
    target.write_bytes(gzip.compress(b"".join(lines[1:])))

    rebuilt = run_tool(tmp_path, "rebuild-projections", "trigger_list")

    assert rebuilt.returncode == 1
    assert rebuilt.stderr.startswith(
        "rebuild-projections: FAILED events-000001.jsonl.gz:"
    )
    assert rebuilt.stderr.rstrip().endswith("; nothing rebuilt")
    service = TriggerService(Settings(data_dir=tmp_path))
    try:
        assert service.trigger_row("u1", trigger_id)["fire_count"] == 6
    finally:
        service.close()


def test_replay_without_an_id_or_all_says_one_is_needed(tmp_path: Path) -> None:
    three_days_of_history(tmp_path)

    answer = run_tool(tmp_path, "replay")

    assert answer.returncode == 2
    assert answer.stderr == (
        "replay: give either a TRIGGER_ID or --all (one of them is needed)\n"
    )


def test_serve_with_a_data_folder_it_cannot_make_says_so_in_one_line(
    tmp_path: Path,
) -> None:
    (tmp_path / "a-file").write_text("")

    answer = run_tool(tmp_path / "a-file" / "data", "serve", "--port", "1")

    assert answer.returncode == 1
    assert answer.stderr.startswith("eventtrigger: cannot start: [Errno 20]")
    assert len(answer.stderr.splitlines()) == 1
