"""Settings, read once from EVENTTRIGGER_* environment variables."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from eventtrigger.secret_files import read_or_create_secret

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
    aggregate_cache_size: int = 10_000
    archive_dir: Path | None = None
    retention_interval_seconds: float = 600.0
    signing_key: str = ""
    secret_grace_seconds: int = 24 * 3600
    allow_private_targets: bool = False
    delivery_concurrency: int = 16
    delivery_timeout_seconds: float = 10.0
    delivery_backoff_base_seconds: float = 1.0
    delivery_backoff_cap_seconds: float = 300.0
    delivery_max_attempts: int = 8
    delivery_excerpt_bytes: int = 1024

    @property
    def sqlite_path(self) -> Path:
        url = self.database_url or f"sqlite:///{self.data_dir / 'eventtrigger.db'}"
        if not url.startswith("sqlite:///"):
            raise SettingsError(
                f"{PREFIX}DATABASE_URL must start with sqlite:/// (got {url!r})"
            )
        return Path(url.removeprefix("sqlite:///"))

    @property
    def archive_path(self) -> Path:
        return self.archive_dir or self.data_dir / "archive"

    def resolved_jwt_secret(self) -> str:
        """The JWT secret: the setting, or one generated once and kept in data_dir."""
        if self.jwt_secret:
            return self.jwt_secret
        return read_or_create_secret(self.data_dir / "jwt-secret")


def flag(raw: str) -> bool:
    """An on/off setting: 1, true, yes, on or 0, false, no, off."""
    word = raw.strip().lower()
    if word in ("1", "true", "yes", "on"):
        return True
    if word in ("0", "false", "no", "off"):
        return False
    raise ValueError(raw)


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
    "AGGREGATE_CACHE_SIZE": ("aggregate_cache_size", int),
    "ARCHIVE_DIR": ("archive_dir", Path),
    "RETENTION_INTERVAL_SECONDS": ("retention_interval_seconds", float),
    "SIGNING_KEY": ("signing_key", str),
    "SECRET_GRACE_SECONDS": ("secret_grace_seconds", int),
    "ALLOW_PRIVATE_TARGETS": ("allow_private_targets", flag),
    "DELIVERY_CONCURRENCY": ("delivery_concurrency", int),
    "DELIVERY_TIMEOUT_SECONDS": ("delivery_timeout_seconds", float),
    "DELIVERY_BACKOFF_BASE_SECONDS": ("delivery_backoff_base_seconds", float),
    "DELIVERY_BACKOFF_CAP_SECONDS": ("delivery_backoff_cap_seconds", float),
    "DELIVERY_MAX_ATTEMPTS": ("delivery_max_attempts", int),
    "DELIVERY_EXCERPT_BYTES": ("delivery_excerpt_bytes", int),
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
    _check_delivery(settings)
    if settings.archived_log_seconds < settings.active_log_seconds:
        raise SettingsError(
            f"{PREFIX}ARCHIVED_LOG_SECONDS must not be less than "
            f"{PREFIX}ACTIVE_LOG_SECONDS"
        )
    settings.sqlite_path  # noqa: B018 - refuses an unsupported URL now, not later
    return settings


# Settings that must be positive for the service to make progress.
_POSITIVE = {
    "PORT": "port",
    "TOKEN_TTL_SECONDS": "token_ttl_seconds",
    "MAX_BODY_BYTES": "max_body_bytes",
    "SCHEDULER_BATCH_SIZE": "scheduler_batch_size",
    "POLL_INTERVAL_SECONDS": "poll_interval_seconds",
    "FIRE_ALL_LIMIT": "fire_all_limit",
    "LOGIN_ATTEMPTS_PER_WINDOW": "login_attempts_per_window",
    "LOGIN_WINDOW_SECONDS": "login_window_seconds",
    "ACTIVE_LOG_SECONDS": "active_log_seconds",
    "ARCHIVED_LOG_SECONDS": "archived_log_seconds",
    "SNAPSHOT_INTERVAL": "snapshot_interval",
    "AGGREGATE_CACHE_SIZE": "aggregate_cache_size",
    "RETENTION_INTERVAL_SECONDS": "retention_interval_seconds",
    "DELIVERY_CONCURRENCY": "delivery_concurrency",
    "DELIVERY_TIMEOUT_SECONDS": "delivery_timeout_seconds",
    "DELIVERY_BACKOFF_BASE_SECONDS": "delivery_backoff_base_seconds",
    "DELIVERY_BACKOFF_CAP_SECONDS": "delivery_backoff_cap_seconds",
    "DELIVERY_MAX_ATTEMPTS": "delivery_max_attempts",
}


def _check_delivery(settings: Settings) -> None:
    for suffix, name in _POSITIVE.items():
        if not getattr(settings, name) > 0:
            raise SettingsError(f"{PREFIX}{suffix} must be greater than 0")
    if settings.secret_grace_seconds < 0 or settings.delivery_excerpt_bytes < 0:
        raise SettingsError(
            f"{PREFIX}SECRET_GRACE_SECONDS and {PREFIX}DELIVERY_EXCERPT_BYTES "
            "must not be negative"
        )
