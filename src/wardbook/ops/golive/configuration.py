"""Go-live items read from the configuration: production settings, TLS, secrets."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

from wardbook.config import DEV_SECRET_KEY, MIN_SECRET_LENGTH, Settings
from wardbook.ops import config_check
from wardbook.ops.golive.report import FAIL, PASS, Item, Options

# Passwords that are defaults somewhere in Wardbook's own deploy files or a first guess.
WEAK_PASSWORDS = frozenset(
    {
        "wardbook-dev-only",
        "replication-dev-only",
        "postgres",
        "password",
        "changeme",
        "change-me",
        "secret",
        "admin",
        "wardbook",
        "example",
    }
)
MIN_PASSWORD_LENGTH = 12
# Words that give away a made-up secret key (a random one contains none of them).
_MADE_UP_WORDS = ("password", "secret", "changeme", "change-me", "wardbook", "example", "default")
_MIN_SECRET_BITS = 96  # estimated from the characters used; token_hex(16) scores ~118


def check_production_settings(settings: Settings, environ: Mapping[str, str]) -> Item:
    """``WARDBOOK_ENV=production`` and ``config check`` finds nothing wrong."""
    title = "Production settings"
    report = config_check.check(settings, environ)
    problems = list(report.problems)
    if not settings.is_production:
        problems.insert(0, f"WARDBOOK_ENV={settings.env}: go-live needs WARDBOOK_ENV=production")
    if problems:
        return Item(
            "production-settings",
            title,
            FAIL,
            "; ".join(problems),
            "set WARDBOOK_ENV=production and fix what `wardbook config check` lists"
            " (docs/operations/configuration.md)",
        )
    warnings = "".join(f"; warning: {w}" for w in report.warnings)
    return Item(
        "production-settings",
        title,
        PASS,
        f"WARDBOOK_ENV=production; `config check` finds no problem{warnings}",
    )


def host_matches(pattern: str, host: str) -> bool:
    """RFC 6125 6.4.3: a wildcard stands for exactly one left-most label."""
    pattern, host = pattern.lower().rstrip("."), host.lower().rstrip(".")
    if pattern.startswith("*."):
        head, _, rest = host.partition(".")
        return bool(head) and rest == pattern[2:]
    return pattern == host


def _certificate_problems(path: Path, host: str, min_days: int, now: datetime) -> tuple[str, str]:
    """(problem or '', description) of the leaf certificate in the PEM file ``path``."""
    from cryptography import x509

    try:
        leaf = x509.load_pem_x509_certificates(path.read_bytes())[0]
    except (OSError, ValueError) as error:
        return f"cannot read a PEM certificate from {path}: {error}", ""
    expires = leaf.not_valid_after_utc
    days = (expires - now).total_seconds() / 86400
    described = f"certificate {path} valid until {expires:%Y-%m-%d %H:%M} UTC ({days:.0f} days)"
    if leaf.not_valid_before_utc > now:
        return f"{described} is not valid before {leaf.not_valid_before_utc:%Y-%m-%d}", described
    if days < min_days:
        state = "has expired" if days < 0 else f"expires within {min_days} days"
        return f"{described} {state}", described
    try:
        names = leaf.extensions.get_extension_for_class(
            x509.SubjectAlternativeName
        ).value.get_values_for_type(x509.DNSName)
    except x509.ExtensionNotFound:
        names = []
    if host and not any(host_matches(name, host) for name in names):
        shown = ", ".join(names) or "none"
        return f"{described} does not name {host} (subject alternative names: {shown})", described
    return "", described


def check_tls(settings: Settings, options: Options, *, now: datetime | None = None) -> Item:
    """An https public URL; with ``--tls-cert``, a certificate valid for N more days."""
    title = "TLS"
    public = settings.public_url or settings.base_url or ""
    if not public.startswith("https://"):
        return Item(
            "tls",
            title,
            FAIL,
            f"the public URL is {public or 'unset'}, not https://",
            "set WARDBOOK_PUBLIC_URL=https://<host> (TLS terminated by the ingress or proxy)",
        )
    host = urlsplit(public).hostname or ""
    if options.tls_cert is None:
        return Item(
            "tls",
            title,
            PASS,
            f"public URL {public}; certificate not inspected (give --tls-cert PEM to check its"
            " expiry and name)",
        )
    problem, described = _certificate_problems(
        options.tls_cert, host, options.cert_min_days, now or datetime.now(UTC)
    )
    if problem:
        return Item(
            "tls",
            title,
            FAIL,
            problem,
            "install a certificate for the public host valid for at least"
            f" {options.cert_min_days} more days (runbook WardbookCertificateExpiresSoon)",
        )
    return Item("tls", title, PASS, f"public URL {public}; {described}, names {host}")


def secret_key_problem(key: str) -> str | None:
    """Why ``key`` is not a random secret, or None."""
    if not key:
        return "WARDBOOK_SECRET_KEY is empty"
    if key == DEV_SECRET_KEY:
        return "WARDBOOK_SECRET_KEY is the development default"
    if len(key) < MIN_SECRET_LENGTH:
        return f"WARDBOOK_SECRET_KEY has {len(key)} characters, fewer than {MIN_SECRET_LENGTH}"
    if key in (key + key)[1:-1]:  # a shorter unit repeated
        return "WARDBOOK_SECRET_KEY is a repeated pattern"
    lowered = key.lower()
    words = [word for word in _MADE_UP_WORDS if word in lowered]
    if words:
        return f"WARDBOOK_SECRET_KEY contains the word {words[0]!r}: it looks made up"
    counts = Counter(key)
    per_char = -sum(n / len(key) * math.log2(n / len(key)) for n in counts.values())
    if per_char * len(key) < _MIN_SECRET_BITS:
        return (
            f"WARDBOOK_SECRET_KEY looks weak (about {per_char * len(key):.0f} bits estimated,"
            f" under {_MIN_SECRET_BITS})"
        )
    return None


def _url_password_problem(name: str, url: str) -> str | None:
    password = urlsplit(url).password
    if password is None:
        return None  # trust, peer, client certificates or a .pgpass file: no secret here
    if not password:
        return f"{name} has an empty password"
    if password.lower() in WEAK_PASSWORDS:
        return f"{name} uses a default or well-known password"
    if len(password) < MIN_PASSWORD_LENGTH:
        return f"{name} has a password of {len(password)} characters (under {MIN_PASSWORD_LENGTH})"
    return None


def check_secrets(settings: Settings) -> Item:
    """The signing secret and any password in a database or Redis URL are not defaults."""
    title = "Secrets"
    problems = []
    key_problem = secret_key_problem(settings.secret_key)
    if key_problem:
        problems.append(key_problem)
    urls = [("WARDBOOK_DATABASE_URL", settings.database_url)]
    urls += [("WARDBOOK_DATABASE_REPLICA_URLS", url) for url in settings.database_replica_urls]
    if settings.redis_url:
        urls.append(("WARDBOOK_REDIS_URL", settings.redis_url))
    for name, url in urls:
        problem = _url_password_problem(name, url)
        if problem:
            problems.append(problem)
    if problems:
        return Item(
            "secrets",
            title,
            FAIL,
            "; ".join(problems),
            "generate secrets with `python3 -c 'import secrets; print(secrets.token_urlsafe(48))'`"
            " and give them through WARDBOOK_SECRET_KEY_FILE or the platform's secret store",
        )
    return Item(
        "secrets",
        title,
        PASS,
        f"secret key of {len(settings.secret_key)} characters, no default or short password in"
        f" the {len(urls)} connection URL(s)",
    )
