"""One typed Settings object, read once at start-up from the environment and passed down.

Every field can be set by an environment variable ``WARDBOOK_<NAME>`` and most by a CLI
flag (the CLI overrides the environment). Nothing else in Wardbook reads ``os.environ``.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from wardbook.errors import WardbookError

DEFAULT_DATABASE_URL = "sqlite:///./wardbook.db"
# Development only: refused with WARDBOOK_ENV=production (Settings.check_security).
DEV_SECRET_KEY = "wardbook-development-secret-key-not-for-production"  # noqa: S105 - refused in production  # nosec B105
MIN_SECRET_LENGTH = 32


class ConfigError(WardbookError):
    """The configuration is unusable; the message says which setting and why."""


@dataclass(frozen=True, slots=True)
class Settings:
    """Effective configuration of one Wardbook process."""

    database_url: str = DEFAULT_DATABASE_URL
    database_replica_urls: tuple[str, ...] = ()
    replica_max_lag_seconds: float = 5.0
    env: str = "development"
    host: str = "127.0.0.1"
    port: int = 8080
    workers: int = 1
    no_auth: bool = False
    base_url: str | None = None  # public FHIR base, e.g. https://ehr.example.org/fhir
    max_body_bytes: int = 32 * 1024 * 1024
    default_page_size: int = 50
    max_page_size: int = 1000
    log_level: str = "info"
    db_pool_min: int = 2
    db_pool_max: int = 10
    # A search running longer is stopped by the database and answered 503 (0: no limit).
    search_timeout_ms: int = 10_000
    otlp_endpoint: str | None = None  # OpenTelemetry OTLP/HTTP collector, e.g. http://c:4318
    # -- security (wardbook.auth, wardbook.audit, docs/security.md) --
    secret_key: str = DEV_SECRET_KEY  # WARDBOOK_SECRET_KEY or WARDBOOK_SECRET_KEY_FILE
    public_url: str | None = None  # e.g. https://ehr.example.org (TLS terminated in front)
    tls_terminated: bool = False  # a proxy in front terminates TLS
    redis_url: str | None = None  # rate limits shared across workers when set
    session_idle_minutes: int = 15
    session_absolute_minutes: int = 12 * 60
    break_glass_minutes: int = 60
    rate_limit_per_minute: int = 1200  # per client and per IP address
    audit_flush_ms: int = 100
    export_dir: str = "./wardbook-exports"  # Bulk Data $export files, one folder per job
    export_lease_seconds: int = 30  # a dead worker's export job is taken over after this
    manual_dir: str = "build/site"  # the built user manual (`make docs`), served at /manual/
    # `backup --verify` on PostgreSQL: a scratch database (name or URL) the role owns, instead
    # of creating a temporary one (which needs CREATEDB); docs/operations/backup.md.
    backup_verify_database: str | None = None
    audit_mode: str = "buffered"  # buffered | sync | off (off: development benchmarks only)
    # Who commits the buffered records: "thread" (this process, on a thread: tests,
    # embedded use) or "process" (an audit process per server process; `wardbook serve`).
    audit_writer: str = "thread"
    token_lifetime: int = 3600  # SMART access and ID tokens, seconds
    refresh_token_lifetime: int = 30 * 86400
    key_rotation_seconds: int = 30 * 86400  # a new signing key this often
    # The hospital's time zone (IANA name): the web app shows and reads times in it.
    timezone: str = "UTC"
    extra: Mapping[str, str] = field(default_factory=dict)

    @property
    def is_production(self) -> bool:
        return self.env == "production"

    @property
    def zone(self) -> ZoneInfo:
        """The hospital's time zone; ConfigError names WARDBOOK_TIMEZONE when unknown."""
        return load_zone(self.timezone)

    def with_overrides(self, **changes: Any) -> Settings:
        """A copy with the given non-None fields replaced (CLI flags win over env)."""
        return replace(self, **{k: v for k, v in changes.items() if v is not None})

    def check(self) -> None:
        """Raise ConfigError on combinations that are never safe."""
        if self.env not in ("development", "staging", "production", "test"):
            raise ConfigError(f"WARDBOOK_ENV={self.env!r}: use development, staging or production")
        if self.no_auth:
            if self.is_production:
                raise ConfigError("--no-auth is refused with WARDBOOK_ENV=production")
            if not is_loopback(self.host):
                raise ConfigError(f"--no-auth is only allowed on a loopback host, not {self.host}")
        if not 1 <= self.port <= 65535:
            raise ConfigError(f"port {self.port} is out of range")
        if self.workers < 1:
            raise ConfigError("workers must be at least 1")
        if self.search_timeout_ms < 0:
            raise ConfigError("WARDBOOK_SEARCH_TIMEOUT_MS must be 0 (no limit) or more")
        if self.export_lease_seconds < 1:
            raise ConfigError("WARDBOOK_EXPORT_LEASE_SECONDS must be at least 1")
        self.check_security()
        load_zone(self.timezone)  # last: `config check` lists it on its own as well

    def check_security(self) -> None:
        """Production refuses default or weak secrets, plain HTTP and disabled auth."""
        for name in ("session_idle_minutes", "session_absolute_minutes", "break_glass_minutes"):
            if getattr(self, name) < 1:
                raise ConfigError(f"WARDBOOK_{name.upper()} must be at least 1")
        if self.rate_limit_per_minute < 0 or self.audit_flush_ms < 1:
            raise ConfigError("rate limit must be 0 (off) or more; audit flush at least 1 ms")
        if self.audit_mode not in ("buffered", "sync", "off"):
            raise ConfigError("WARDBOOK_AUDIT_MODE must be buffered, sync or off")
        if self.audit_writer not in ("thread", "process"):
            raise ConfigError("WARDBOOK_AUDIT_WRITER must be thread or process")
        if not self.is_production:
            return
        if self.audit_mode == "off":
            raise ConfigError("WARDBOOK_AUDIT_MODE=off is refused with WARDBOOK_ENV=production")
        if self.secret_key == DEV_SECRET_KEY or len(self.secret_key) < MIN_SECRET_LENGTH:
            raise ConfigError(
                "WARDBOOK_ENV=production needs WARDBOOK_SECRET_KEY (or _FILE) of at least"
                f" {MIN_SECRET_LENGTH} random characters, not the development default"
            )
        if len(set(self.secret_key)) < 10:
            raise ConfigError("WARDBOOK_SECRET_KEY is too repetitive to be a random secret")
        https = (self.public_url or "").startswith("https://")
        if not (https or self.tls_terminated):
            raise ConfigError(
                "WARDBOOK_ENV=production needs TLS: set WARDBOOK_PUBLIC_URL=https://... or"
                " WARDBOOK_TLS_TERMINATED=true behind a TLS-terminating proxy"
            )
        if not 60 <= self.token_lifetime <= 86400:
            raise ConfigError("WARDBOOK_TOKEN_LIFETIME must be between 60 and 86400 seconds")
        if self.key_rotation_seconds < 3600:
            raise ConfigError("WARDBOOK_KEY_ROTATION_SECONDS must be at least 3600")


def load_zone(name: str) -> ZoneInfo:
    """The IANA time zone ``name`` (Europe/London) from the system's tz database."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        # ValueError: an empty or path-like name; not found: unknown name or no tz database.
        raise ConfigError(
            f"WARDBOOK_TIMEZONE={name!r} is not a known IANA time zone: use a name like"
            " Europe/London (the system needs its tz database, Debian package tzdata)"
        ) from exc


def is_loopback(host: str) -> bool:
    """True for localhost and 127.0.0.0/8 or ::1."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise ConfigError(f"{name}={raw!r} is not a whole number") from exc


def _bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    if raw.lower() in ("1", "true", "yes", "on"):
        return True
    if raw.lower() in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"{name}={raw!r} is not a boolean (true/false)")


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """Read Settings from ``WARDBOOK_*`` environment variables."""
    source = os.environ if env is None else env
    replicas = tuple(
        url.strip()
        for url in source.get("WARDBOOK_DATABASE_REPLICA_URLS", "").split(",")
        if url.strip()
    )
    return Settings(
        database_url=source.get("WARDBOOK_DATABASE_URL") or DEFAULT_DATABASE_URL,
        database_replica_urls=replicas,
        replica_max_lag_seconds=_int(source, "WARDBOOK_REPLICA_MAX_LAG_SECONDS", 5),
        env=source.get("WARDBOOK_ENV", "development"),
        host=source.get("WARDBOOK_HOST", "127.0.0.1"),
        port=_int(source, "WARDBOOK_PORT", 8080),
        workers=_int(source, "WARDBOOK_WORKERS", 1),
        no_auth=_bool(source, "WARDBOOK_NO_AUTH", False),
        base_url=source.get("WARDBOOK_BASE_URL") or None,
        max_body_bytes=_int(source, "WARDBOOK_MAX_BODY_BYTES", 32 * 1024 * 1024),
        log_level=source.get("WARDBOOK_LOG_LEVEL", "info"),
        db_pool_min=_int(source, "WARDBOOK_DB_POOL_MIN", 2),
        db_pool_max=_int(source, "WARDBOOK_DB_POOL_MAX", 10),
        search_timeout_ms=_int(source, "WARDBOOK_SEARCH_TIMEOUT_MS", 10_000),
        otlp_endpoint=source.get("WARDBOOK_OTLP_ENDPOINT") or None,
        secret_key=_secret(source, "WARDBOOK_SECRET_KEY") or DEV_SECRET_KEY,
        public_url=source.get("WARDBOOK_PUBLIC_URL") or None,
        tls_terminated=_bool(source, "WARDBOOK_TLS_TERMINATED", False),
        redis_url=source.get("WARDBOOK_REDIS_URL") or None,
        session_idle_minutes=_int(source, "WARDBOOK_SESSION_IDLE_MINUTES", 15),
        session_absolute_minutes=_int(source, "WARDBOOK_SESSION_ABSOLUTE_MINUTES", 720),
        break_glass_minutes=_int(source, "WARDBOOK_BREAK_GLASS_MINUTES", 60),
        rate_limit_per_minute=_int(source, "WARDBOOK_RATE_LIMIT_PER_MINUTE", 1200),
        audit_flush_ms=_int(source, "WARDBOOK_AUDIT_FLUSH_MS", 100),
        export_dir=source.get("WARDBOOK_EXPORT_DIR") or "./wardbook-exports",
        export_lease_seconds=_int(source, "WARDBOOK_EXPORT_LEASE_SECONDS", 30),
        manual_dir=source.get("WARDBOOK_MANUAL_DIR") or "build/site",
        backup_verify_database=source.get("WARDBOOK_BACKUP_VERIFY_DATABASE") or None,
        audit_mode=source.get("WARDBOOK_AUDIT_MODE", "buffered"),
        audit_writer=source.get("WARDBOOK_AUDIT_WRITER", "thread"),
        token_lifetime=_int(source, "WARDBOOK_TOKEN_LIFETIME", 3600),
        refresh_token_lifetime=_int(source, "WARDBOOK_REFRESH_TOKEN_LIFETIME", 30 * 86400),
        key_rotation_seconds=_int(source, "WARDBOOK_KEY_ROTATION_SECONDS", 30 * 86400),
        timezone=source.get("WARDBOOK_TIMEZONE") or "UTC",
    )


def _secret(env: Mapping[str, str], name: str) -> str | None:
    """A secret from ``NAME`` or from the file named by ``NAME_FILE`` (Docker/K8s secrets)."""
    value = env.get(name)
    if value:
        return value
    path = env.get(f"{name}_FILE")
    if not path:
        return None
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read().strip() or None
    except OSError as exc:
        raise ConfigError(f"{name}_FILE={path!r} cannot be read: {exc.strerror}") from exc
