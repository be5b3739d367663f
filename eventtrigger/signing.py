"""Webhook signing: per-trigger secrets derived from one master key.

A trigger's secret is HMAC-SHA256(master key, "<trigger id>:<generation>"),
so secrets are never stored: the store records only the generation and when
it last changed. A request is signed over "<timestamp>.<raw body>"; during
the grace period after a rotation it carries a signature by the previous
secret too, so a receiver can switch secrets without dropping a request.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from eventtrigger.secret_files import read_or_create_secret
from eventtrigger.settings import Settings

KEY_FILE = "signing-key"
SECRET_PREFIX = "whsec_"
SCHEME = "v1"


@dataclass(frozen=True)
class SigningSecret:
    """A trigger's current secret, as its owner reads it."""

    secret: str = field(repr=False)
    generation: int
    previous_secret_valid_until: datetime | None


class SigningKeys:
    """Derives each trigger's signing secrets from the master key.

    The key is read (or generated into the data folder) on first use, so a
    process that never signs never creates it.
    """

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._key: bytes | None = None
        self._lock = threading.Lock()
        self.grace = timedelta(seconds=settings.secret_grace_seconds)

    def __repr__(self) -> str:
        return "SigningKeys(<hidden>)"

    def secret(self, trigger_id: str, generation: int) -> str:
        message = f"{trigger_id}:{generation}".encode()
        digest = hmac.new(self._master_key(), message, hashlib.sha256).digest()
        return SECRET_PREFIX + base64.urlsafe_b64encode(digest).decode().rstrip("=")

    def previous_valid_until(
        self, generation: int, rotated_at: datetime | None, now: datetime
    ) -> datetime | None:
        """Until when the previous secret still signs; None once it no longer does."""
        if generation <= 1 or rotated_at is None:
            return None
        until = rotated_at + self.grace
        return until if until > now else None

    def secrets_in_use(
        self,
        trigger_id: str,
        generation: int,
        rotated_at: datetime | None,
        now: datetime,
    ) -> list[str]:
        """The secrets that sign a request sent now: the current one first."""
        current = [self.secret(trigger_id, generation)]
        if self.previous_valid_until(generation, rotated_at, now) is None:
            return current
        return current + [self.secret(trigger_id, generation - 1)]

    def current(
        self,
        trigger_id: str,
        generation: int,
        rotated_at: datetime | None,
        now: datetime,
    ) -> SigningSecret:
        return SigningSecret(
            secret=self.secret(trigger_id, generation),
            generation=generation,
            previous_secret_valid_until=self.previous_valid_until(
                generation, rotated_at, now
            ),
        )

    def _master_key(self) -> bytes:
        with self._lock:
            if self._key is None:
                self._key = master_key(self._settings).encode()
            return self._key


def master_key(settings: Settings) -> str:
    """The setting, or a key generated once into the data folder (mode 600)."""
    if settings.signing_key:
        return settings.signing_key
    return read_or_create_secret(settings.data_dir / KEY_FILE)


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """Hex HMAC-SHA256 of "<timestamp>.<body>" keyed by the secret's UTF-8 bytes."""
    message = str(timestamp).encode() + b"." + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def signature_header(secrets_in_use: list[str], timestamp: int, body: bytes) -> str:
    return ",".join(
        f"{SCHEME}={signature(secret, timestamp, body)}" for secret in secrets_in_use
    )


def verify(
    header: str,
    secret: str,
    timestamp_header: str,
    body: bytes,
    now: float,
    tolerance_seconds: float = 300,
) -> bool:
    """What a receiver does: a fresh timestamp and one matching signature.

    ``now`` is the receiver's Unix time; the tolerance absorbs clock skew and
    bounds how long a captured request can be replayed.
    """
    try:
        timestamp = int(timestamp_header)
    except ValueError:
        return False
    if abs(now - timestamp) > tolerance_seconds:
        return False
    expected = signature(secret, timestamp, body)
    for part in header.split(","):
        scheme, _, value = part.strip().partition("=")
        if scheme == SCHEME and hmac.compare_digest(value, expected):
            return True
    return False
