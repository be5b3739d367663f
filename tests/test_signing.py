"""Signing secrets: derived, never stored; the master key; the signature."""

from __future__ import annotations

import base64
import hashlib
import hmac
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

from eventtrigger.settings import Settings
from eventtrigger.signing import (
    KEY_FILE,
    SigningKeys,
    master_key,
    signature,
    signature_header,
    verify,
)

T0 = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)
TRIGGER = "8f7e3c52-2d2b-4a51-9c1c-7b0f0b8e2a10"


def test_a_secret_is_the_hmac_of_trigger_and_generation(tmp_path: Path) -> None:
    keys = SigningKeys(Settings(data_dir=tmp_path, signing_key="master"))

    digest = hmac.new(b"master", f"{TRIGGER}:1".encode(), hashlib.sha256).digest()
    expected = "whsec_" + base64.urlsafe_b64encode(digest).decode().rstrip("=")
    assert keys.secret(TRIGGER, 1) == expected
    assert keys.secret(TRIGGER, 2) != expected
    assert keys.secret("another", 1) != expected
    assert "master" not in repr(keys)


def test_the_master_key_is_generated_once_owner_only(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data")

    first = master_key(settings)
    second = master_key(settings)

    path = tmp_path / "data" / KEY_FILE
    assert first == second and len(first) >= 64
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in path.parent.iterdir()] == [KEY_FILE]


def test_a_key_file_already_there_is_never_replaced(tmp_path: Path) -> None:
    (tmp_path / KEY_FILE).write_text("kept\n")

    assert master_key(Settings(data_dir=tmp_path)) == "kept"


def test_the_setting_wins_and_no_file_is_written(tmp_path: Path) -> None:
    assert master_key(Settings(data_dir=tmp_path, signing_key="given")) == "given"
    assert not (tmp_path / KEY_FILE).exists()


def test_the_previous_secret_signs_only_during_the_grace(tmp_path: Path) -> None:
    keys = SigningKeys(Settings(data_dir=tmp_path, secret_grace_seconds=60))
    rotated = T0

    during = keys.secrets_in_use(TRIGGER, 3, rotated, T0 + timedelta(seconds=59))
    after = keys.secrets_in_use(TRIGGER, 3, rotated, T0 + timedelta(seconds=60))

    assert during == [keys.secret(TRIGGER, 3), keys.secret(TRIGGER, 2)]
    assert after == [keys.secret(TRIGGER, 3)]
    assert keys.secrets_in_use(TRIGGER, 1, None, T0) == [keys.secret(TRIGGER, 1)]
    assert keys.previous_valid_until(3, rotated, T0) == T0 + timedelta(seconds=60)


def test_the_header_names_one_signature_per_secret() -> None:
    body = b'{"a":1}'

    header = signature_header(["one", "two"], 1700000000, body)

    expected = hmac.new(b"one", b"1700000000." + body, hashlib.sha256).hexdigest()
    assert header.split(",")[0] == f"v1={expected}"
    assert header.split(",")[1] == f"v1={signature('two', 1700000000, body)}"


def test_verify_allows_clock_skew_up_to_the_tolerance() -> None:
    body = b"{}"
    header = signature_header(["s"], 1000, body)

    assert verify(header, "s", "1000", body, now=1300)
    assert verify(header, "s", "1000", body, now=700)
    assert not verify(header, "s", "1000", body, now=1301)
    assert not verify(header, "s", "999", body, now=1000)
    assert not verify(header, "s", "soon", body, now=1000)
    assert not verify("v0=" + header[3:], "s", "1000", body, now=1000)
