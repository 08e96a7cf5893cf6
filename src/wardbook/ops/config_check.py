"""`wardbook config check`: the effective configuration, secrets masked, and what is wrong.

Environments are profiles over the one typed :class:`~wardbook.config.Settings`:

========== ================== =========================================================
profile    ``WARDBOOK_ENV``   refuses, beyond ``Settings.check()``
========== ================== =========================================================
dev        development, test  nothing more (SQLite and plain HTTP are fine on a laptop)
staging    staging            SQLite; no https public URL; debug logging
production production         as staging, plus fewer than 2 workers (the security rules
                              of ``Settings.check_security`` apply too)
========== ================== =========================================================

Every problem is listed (not only the first) and the command exits non-zero when there is
one, so a deploy pipeline can run it against the environment it is about to start.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from wardbook.config import DEV_SECRET_KEY, ConfigError, Settings, load_zone

MASK = "****"
_SECRET_WORDS = ("secret", "password", "token", "key")


@dataclass(frozen=True, slots=True)
class Profile:
    """What an environment demands of the configuration."""

    name: str
    require_postgresql: bool
    require_https: bool
    allow_debug_logging: bool
    min_workers: int


PROFILES: dict[str, Profile] = {
    "development": Profile("dev", False, False, True, 1),
    "test": Profile("dev", False, False, True, 1),
    "staging": Profile("staging", True, True, False, 1),
    "production": Profile("production", True, True, False, 2),
}


@dataclass(frozen=True, slots=True)
class Entry:
    """One setting as shown: its value (masked where secret) and where it came from."""

    name: str
    value: str
    source: str


@dataclass(frozen=True, slots=True)
class Report:
    env: str
    profile: str
    entries: list[Entry]
    problems: list[str]
    warnings: list[str]

    @property
    def ok(self) -> bool:
        return not self.problems

    def as_json(self) -> str:
        return json.dumps(
            {
                "env": self.env,
                "profile": self.profile,
                "ok": self.ok,
                "settings": {e.name: {"value": e.value, "source": e.source} for e in self.entries},
                "problems": self.problems,
                "warnings": self.warnings,
            },
            indent=2,
        )

    def as_text(self) -> str:
        width = max(len(e.name) for e in self.entries)
        lines = [f"Wardbook configuration: WARDBOOK_ENV={self.env} (profile {self.profile})"]
        lines += [f"  {e.name:<{width}}  {e.value}  [{e.source}]" for e in self.entries]
        lines += [f"warning: {w}" for w in self.warnings]
        lines += [f"problem: {p}" for p in self.problems]
        lines.append("OK" if self.ok else f"{len(self.problems)} problem(s)")
        return "\n".join(lines)


def mask_url(url: str) -> str:
    """The URL with any password replaced by ``****``."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{parts.username or ''}:{MASK}@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


def _show(name: str, value: Any) -> str:
    if value is None:
        return "(unset)"
    if any(word in name for word in _SECRET_WORDS):
        if name == "secret_key" and value == DEV_SECRET_KEY:
            return f"{MASK} (development default)"
        return MASK
    if isinstance(value, tuple):
        return ",".join(mask_url(str(v)) for v in value) or "(none)"
    if isinstance(value, str) and "://" in value:
        return mask_url(value)
    return str(value)


def _source(name: str, environ: Mapping[str, str], flags: frozenset[str]) -> str:
    variable = f"WARDBOOK_{name.upper()}"
    if name in flags:
        return "flag"
    if environ.get(variable):
        return f"env {variable}"
    if environ.get(f"{variable}_FILE"):
        return f"file {variable}_FILE"
    return "default"


def check(
    settings: Settings, environ: Mapping[str, str], flags: frozenset[str] = frozenset()
) -> Report:
    """Everything `wardbook config check` prints, computed without side effects."""
    problems: list[str] = []
    warnings: list[str] = []
    try:
        settings.check()
    except ConfigError as error:
        problems.append(error.message)
    try:  # listed on its own: Settings.check() stops at its first problem
        load_zone(settings.timezone)
    except ConfigError as error:
        if error.message not in problems:
            problems.append(error.message)
    profile = PROFILES.get(settings.env)
    if profile is not None:
        urls = (settings.database_url, *settings.database_replica_urls)
        if profile.require_postgresql and not all(u.startswith("postgresql") for u in urls):
            problems.append(
                f"WARDBOOK_ENV={settings.env} needs PostgreSQL (postgresql://...) for the"
                " database and every replica, not SQLite"
            )
        public = settings.public_url or settings.base_url
        if profile.require_https and not (public or "").startswith("https://"):
            problems.append(
                f"WARDBOOK_ENV={settings.env} needs its public address over TLS:"
                " set WARDBOOK_PUBLIC_URL (or WARDBOOK_BASE_URL) to https://..."
            )
        if not profile.allow_debug_logging and settings.log_level.lower() == "debug":
            problems.append(
                f"WARDBOOK_LOG_LEVEL=debug is refused with WARDBOOK_ENV={settings.env}:"
                " debug logs may carry request details"
            )
        if settings.workers < profile.min_workers:
            problems.append(
                f"WARDBOOK_ENV={settings.env} needs at least {profile.min_workers} workers"
                f" (WARDBOOK_WORKERS={settings.workers})"
            )
        if profile.require_postgresql and settings.workers > 1 and not settings.redis_url:
            warnings.append(
                "WARDBOOK_REDIS_URL is unset: each worker keeps its own rate-limit counters"
            )
    if settings.db_pool_min > settings.db_pool_max:
        problems.append(
            f"WARDBOOK_DB_POOL_MIN={settings.db_pool_min} is above"
            f" WARDBOOK_DB_POOL_MAX={settings.db_pool_max}"
        )
    known = {f"WARDBOOK_{f.name.upper()}" for f in dataclasses.fields(settings)}
    known |= {f"{name}_FILE" for name in known}
    for variable in sorted(environ):
        if variable.startswith("WARDBOOK_") and variable not in known:
            warnings.append(f"{variable} is not a setting Wardbook knows (a typo?)")
    entries = [
        Entry(f.name, _show(f.name, getattr(settings, f.name)), _source(f.name, environ, flags))
        for f in dataclasses.fields(settings)
        if f.name != "extra"
    ]
    name = profile.name if profile else "unknown"
    return Report(settings.env, name, entries, problems, warnings)
