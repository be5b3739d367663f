"""Settings, read once from EVENTTRIGGER_* environment variables."""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

PREFIX = "EVENTTRIGGER_"


class SettingsError(ValueError):
    """Raised when an environment variable holds a value that cannot be used."""


@dataclass(frozen=True)
class Settings:
    """Every setting the service reads; the README lists each one."""

    host: str = "127.0.0.1"
    port: int = 8000
    data_dir: Path = Path("var")
    database_url: str = ""
    jwt_secret: str = ""
    token_ttl_seconds: int = 7200
    max_body_bytes: int = 64 * 1024
    log_level: str = "INFO"
    log_format: str = "text"
    scheduler_batch_size: int = 500
    poll_interval_seconds: float = 0.5
    fire_all_limit: int = 100
    login_attempts_per_window: int = 10
    login_window_seconds: int = 300
    active_log_seconds: int = 2 * 3600
    archived_log_seconds: int = 48 * 3600
    snapshot_interval: int = 100

    @property
    def sqlite_path(self) -> Path:
        url = self.database_url or f"sqlite:///{self.data_dir / 'eventtrigger.db'}"
        if not url.startswith("sqlite:///"):
            raise SettingsError(
                f"{PREFIX}DATABASE_URL must start with sqlite:/// (got {url!r})"
            )
        return Path(url.removeprefix("sqlite:///"))

    def resolved_jwt_secret(self) -> str:
        """The JWT secret: the setting, or one generated once and kept in data_dir."""
        if self.jwt_secret:
            return self.jwt_secret
        path = self.data_dir / "jwt-secret"
        if path.exists():
            return path.read_text().strip()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        secret = secrets.token_urlsafe(48)
        # Created owner-only before the secret is written, never readable by others.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secret)
        return secret


_FIELDS = {
    "HOST": ("host", str),
    "PORT": ("port", int),
    "DATA_DIR": ("data_dir", Path),
    "DATABASE_URL": ("database_url", str),
    "JWT_SECRET": ("jwt_secret", str),
    "TOKEN_TTL_SECONDS": ("token_ttl_seconds", int),
    "MAX_BODY_BYTES": ("max_body_bytes", int),
    "LOG_LEVEL": ("log_level", str),
    "LOG_FORMAT": ("log_format", str),
    "SCHEDULER_BATCH_SIZE": ("scheduler_batch_size", int),
    "POLL_INTERVAL_SECONDS": ("poll_interval_seconds", float),
    "FIRE_ALL_LIMIT": ("fire_all_limit", int),
    "LOGIN_ATTEMPTS_PER_WINDOW": ("login_attempts_per_window", int),
    "LOGIN_WINDOW_SECONDS": ("login_window_seconds", int),
    "ACTIVE_LOG_SECONDS": ("active_log_seconds", int),
    "ARCHIVED_LOG_SECONDS": ("archived_log_seconds", int),
    "SNAPSHOT_INTERVAL": ("snapshot_interval", int),
}


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    environ = os.environ if environ is None else environ
    values = {}
    for suffix, (name, kind) in _FIELDS.items():
        raw = environ.get(PREFIX + suffix)
        if raw is None or raw == "":
            continue
        try:
            values[name] = kind(raw)
        except ValueError:
            raise SettingsError(
                f"{PREFIX}{suffix} has an unusable value {raw!r}"
            ) from None
    settings = Settings(**values)
    if settings.log_format not in ("text", "json"):
        raise SettingsError(f"{PREFIX}LOG_FORMAT must be text or json")
    return settings
