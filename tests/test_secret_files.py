from __future__ import annotations

import threading
from pathlib import Path

from eventtrigger.secret_files import read_or_create_secret
from eventtrigger.settings import Settings


def test_processes_starting_together_agree_on_one_jwt_secret(tmp_path: Path) -> None:
    data = tmp_path / "data"
    start = threading.Barrier(16)
    seen: list[str] = []

    def resolve() -> None:
        start.wait(5)
        seen.append(Settings(data_dir=data, jwt_secret="").resolved_jwt_secret())

    threads = [threading.Thread(target=resolve) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(5)

    kept = (data / "jwt-secret").read_text()
    assert len(kept) == 64
    assert seen == [kept] * 16
    assert sorted(p.name for p in data.iterdir()) == ["jwt-secret"]
    assert (data / "jwt-secret").stat().st_mode & 0o777 == 0o600


def test_a_kept_secret_is_read_back_as_it_is(tmp_path: Path) -> None:
    path = tmp_path / "secret"
    path.write_text("kept secret\n")

    assert read_or_create_secret(path) == "kept secret"
