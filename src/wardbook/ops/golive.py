"""``wardbook golive check``: an executable go-live checklist for a real deployment.

Each item inspects the configuration or the database the server would use and says
``pass``, ``fail`` (with how to fix it) or ``skip`` (not applicable, e.g. no replicas
configured). The command exits non-zero when any item fails, so a cut-over plan
(docs/operations/go-live.md) can gate on it. The items reuse the code the server and the
other commands run -- ``config check``, the migration runner, the user store,
``ops_backup_log`` written by ``wardbook backup``, the replica probe and ``audit verify`` --
so the checklist cannot drift from what it checks.

Alert rules need a source, named in the report: ``--prometheus-url`` asks Prometheus which
rules it has *loaded* (``GET /api/v1/rules``, Prometheus HTTP API); ``--rules-file`` only
proves that a rules file is valid (``promtool check rules``) and names every alert.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import re
import shutil
import subprocess  # runs promtool with a fixed argv  # nosec B404
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from wardbook.config import DEV_SECRET_KEY, MIN_SECRET_LENGTH, Settings
from wardbook.ops import config_check

PASS, FAIL, SKIP = "pass", "fail", "skip"

# The alerts of deploy/monitoring/rules.yml (a test keeps the two equal): Prometheus must
# have every one loaded before go-live, each with its runbook in docs/operations/runbooks/.
EXPECTED_ALERTS = (
    "WardbookAvailabilityBurnRateFast",
    "WardbookAvailabilityBurnRateSlow",
    "WardbookLatencyBurnRateFast",
    "WardbookLatencyBurnRateSlow",
    "WardbookDown",
    "WardbookErrorSpike",
    "WardbookFailedLoginSpike",
    "WardbookBreakGlassUsed",
    "WardbookDbPoolSaturated",
    "WardbookJobQueueBacklog",
    "WardbookExportJobsFailing",
    "WardbookReplicaLagHigh",
    "WardbookBackupTooOld",
    "WardbookDiskSpaceLow",
    "WardbookDiskWillFillIn4Hours",
    "WardbookCertificateExpiresSoon",
    "WardbookCertificateExpiryCritical",
)
RULE_GROUP_PREFIX = "wardbook"

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
_ALERT_LINE = re.compile(r"^\s*-?\s*alert:\s*[\"']?([A-Za-z_:][A-Za-z0-9_:]*)[\"']?\s*$", re.M)


@dataclass(frozen=True, slots=True)
class Item:
    """One line of the checklist."""

    id: str
    title: str
    status: str  # pass | fail | skip
    detail: str
    fix: str | None = None
    source: str | None = None


@dataclass(frozen=True, slots=True)
class Options:
    """What the operator tells the check beyond the configuration (CLI flags)."""

    tls_cert: Path | None = None
    cert_min_days: int = 30
    backup_max_age_hours: float = 24.0
    prometheus_url: str | None = None
    rules_file: Path | None = None
    promtool: str | None = None  # default: promtool on PATH


@dataclass(frozen=True, slots=True)
class Report:
    """Every item, in checklist order."""

    env: str
    database: str
    items: list[Item]

    @property
    def ok(self) -> bool:
        return all(item.status != FAIL for item in self.items)

    @property
    def failed(self) -> list[Item]:
        return [item for item in self.items if item.status == FAIL]

    def as_json(self) -> str:
        """The report as one JSON document (``--json``)."""
        body = {
            "ok": self.ok,
            "env": self.env,
            "database": self.database,
            "items": [asdict(item) for item in self.items],
        }
        return json.dumps(body, indent=2)

    def as_text(self) -> str:
        """One line per item, with the fix under each failure."""
        width = max(len(item.id) for item in self.items)
        lines = [f"Wardbook go-live check: WARDBOOK_ENV={self.env}, database {self.database}"]
        for item in self.items:
            lines.append(f"[{item.status.upper()}] {item.id:<{width}}  {item.title}: {item.detail}")
            if item.source:
                lines.append(f"       {'':<{width}}  source: {item.source}")
            if item.status == FAIL and item.fix:
                lines.append(f"       {'':<{width}}  fix: {item.fix}")
        if self.ok:
            lines.append(f"Ready to go live: all {len(self.items)} items pass or do not apply")
        else:
            names = ", ".join(item.id for item in self.failed)
            lines.append(
                f"NOT ready to go live: {len(self.failed)} of {len(self.items)} items failed"
                f" ({names})"
            )
        return "\n".join(lines)


# --- configuration items (no I/O but the certificate and the rules source) ----------------


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
    return Item(
        "production-settings",
        title,
        PASS,
        f"WARDBOOK_ENV=production; `config check` finds no problem ({len(report.warnings)}"
        " warning(s))",
    )


def _host_matches(pattern: str, host: str) -> bool:
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
    if host and not any(_host_matches(name, host) for name in names):
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


def alert_names_in_file(text: str) -> list[str]:
    """The ``alert:`` names of a Prometheus rules file (YAML), in file order."""
    return _ALERT_LINE.findall(text)


def _promtool_check(promtool: str, rules_file: Path) -> str | None:
    """None when ``promtool check rules`` accepts the file, else its last output line."""
    result = subprocess.run(  # noqa: S603 - fixed argv, no shell  # nosec B603
        [promtool, "check", "rules", str(rules_file)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if result.returncode == 0:
        return None
    lines = (result.stderr or result.stdout).strip().splitlines()
    return lines[-1] if lines else f"exit status {result.returncode}"


def _loaded_alerts(prometheus_url: str) -> tuple[set[str], list[str]]:
    """Alert names in Wardbook's rule groups loaded by Prometheus, and rules in error."""
    url = prometheus_url.rstrip("/") + "/api/v1/rules?type=alert"
    if urlsplit(url).scheme not in ("http", "https"):
        raise ValueError(f"--prometheus-url must be http(s)://..., not {prometheus_url!r}")
    request = urllib.request.Request(url, headers={"Accept": "application/json"})  # noqa: S310
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - scheme checked above  # nosec B310
        body = json.loads(response.read())
    if body.get("status") != "success":
        raise ValueError(f"Prometheus answered {body.get('status')}: {body.get('error')}")
    names: set[str] = set()
    broken: list[str] = []
    for group in body.get("data", {}).get("groups", []):
        if not str(group.get("name", "")).startswith(RULE_GROUP_PREFIX):
            continue
        for rule in group.get("rules", []):
            if rule.get("type") != "alerting":
                continue
            names.add(str(rule.get("name")))
            if rule.get("health") == "err":
                broken.append(f"{rule.get('name')}: {rule.get('lastError')}")
    return names, broken


def check_alert_rules(options: Options) -> Item:
    """Every Wardbook alert is loaded in Prometheus (or at least in a valid rules file)."""
    title = "Alert rules"
    fix = (
        "load deploy/monitoring/rules.yml into Prometheus (rule_files) and reload it;"
        " see docs/operations/metrics.md"
    )
    expected: tuple[str, ...] = EXPECTED_ALERTS
    in_file: list[str] = []
    file_source = ""
    if options.rules_file is not None:
        promtool = options.promtool or shutil.which("promtool")
        if promtool is None:
            return Item(
                "alert-rules",
                title,
                FAIL,
                "promtool not found, so the rules file cannot be checked",
                "install the prometheus package (scripts/deploy/install-tools.sh) or give"
                " --prometheus-url",
            )
        try:
            text = options.rules_file.read_text("utf-8")
            problem = _promtool_check(promtool, options.rules_file)
        except (OSError, subprocess.SubprocessError) as error:
            problem = str(error)
            text = ""
        if problem:
            return Item(
                "alert-rules",
                title,
                FAIL,
                f"promtool check rules {options.rules_file}: {problem}",
                fix,
                f"rules file {options.rules_file}",
            )
        in_file = alert_names_in_file(text)
        # The site's own alerts in the file must be loaded too, never fewer than Wardbook's.
        expected = tuple(dict.fromkeys((*EXPECTED_ALERTS, *in_file)))
        file_source = f"rules file {options.rules_file} (valid: promtool check rules)"
    if options.prometheus_url:
        source = f"Prometheus at {options.prometheus_url} (GET /api/v1/rules)"
        if file_source:
            source += f", expected alerts from {file_source}"
        try:
            loaded, broken = _loaded_alerts(options.prometheus_url)
        except (OSError, ValueError, urllib.error.URLError) as error:
            return Item(
                "alert-rules",
                title,
                FAIL,
                f"cannot read the loaded rules: {error}",
                "give the Prometheus URL the operators use (e.g. http://prometheus:9090)",
                source,
            )
        missing = [name for name in expected if name not in loaded]
        problems = []
        if missing:
            problems.append(f"{len(missing)} alert(s) not loaded: {', '.join(missing)}")
        if broken:
            problems.append(f"rule(s) failing to evaluate: {'; '.join(broken)}")
        if problems:
            return Item("alert-rules", title, FAIL, "; ".join(problems), fix, source)
        return Item(
            "alert-rules",
            title,
            PASS,
            f"all {len(expected)} alerts loaded and evaluating without error",
            source=source,
        )
    if file_source:
        missing = [name for name in EXPECTED_ALERTS if name not in in_file]
        if missing:
            return Item(
                "alert-rules",
                title,
                FAIL,
                f"the rules file lacks {len(missing)} alert(s): {', '.join(missing)}",
                "use the rules file of this release (deploy/monitoring/rules.yml)",
                file_source,
            )
        return Item(
            "alert-rules",
            title,
            PASS,
            f"{len(in_file)} alerts, every Wardbook alert present (proves the file, not that"
            " Prometheus loaded it: give --prometheus-url for that)",
            source=file_source,
        )
    return Item(
        "alert-rules",
        title,
        FAIL,
        "no source for the alert rules was given",
        "give --prometheus-url URL (rules Prometheus has loaded) or --rules-file PATH"
        " (checked with promtool)",
    )


# --- database items --------------------------------------------------------------------------


async def check_migrations(repository: Any) -> Item:
    """The database answers and no migration is pending (what /readyz needs)."""
    title = "Database migrations"
    await repository.ping()
    pending = list(await repository.pending_migrations())
    if pending:
        return Item(
            "migrations",
            title,
            FAIL,
            f"{len(pending)} migration(s) pending: {', '.join(pending)}",
            "take a backup, then run `wardbook migrate` (docs/operations/migrations.md)",
        )
    return Item("migrations", title, PASS, "the schema is current")


async def check_admin_mfa(repository: Any) -> Item:
    """There is an active admin, and every active admin has confirmed an authenticator."""
    from wardbook.auth.users import UserStore

    title = "Admin accounts have MFA"
    admins = [u for u in await UserStore(repository).all() if "admin" in u.roles]
    active = [u for u in admins if not u.disabled]
    if not active:
        return Item(
            "admin-mfa",
            title,
            FAIL,
            "there is no active admin account",
            "add one with `wardbook user add NAME --role admin` and have them sign in and"
            " confirm their authenticator (docs/admin/users.md)",
        )
    pending = [u.username for u in active if not u.mfa_enrolled]
    if pending:
        return Item(
            "admin-mfa",
            title,
            FAIL,
            f"{len(pending)} admin account(s) without confirmed MFA: {', '.join(pending)}",
            "each must sign in and enter a code from their authenticator app; if they lost it,"
            " `wardbook user reset-mfa NAME`; or disable the account (`wardbook user disable`)",
        )
    return Item(
        "admin-mfa", title, PASS, f"{len(active)} active admin account(s), every one with MFA"
    )


def _age(micros: int, now: float) -> str:
    hours = (now - micros / 1_000_000) / 3600
    return f"{hours:.1f} h ago" if hours < 48 else f"{hours / 24:.0f} days ago"


async def check_backup(repository: Any, max_age_hours: float, *, now: float | None = None) -> Item:
    """A backup restore-tested with ``wardbook backup --verify`` within the window."""
    title = "Backup taken and restore-tested"
    moment = time.time() if now is None else now
    rows = await repository.query(
        "SELECT max(finished_at), max(CASE WHEN verified THEN finished_at END) FROM ops_backup_log"
    )
    last_any, last_verified = rows[0] if rows else (None, None)
    fix = (
        "run `wardbook backup --output FILE --verify` (docs/operations/backup.md): it restores"
        " the backup into a scratch database and compares every table"
    )
    if last_verified is None:
        detail = "no restore-tested backup recorded"
        if last_any is not None:
            detail += f" (the last backup, {_age(int(last_any), moment)}, was not verified)"
        return Item("backup", title, FAIL, detail, fix)
    age_hours = (moment - int(last_verified) / 1_000_000) / 3600
    if age_hours > max_age_hours:
        return Item(
            "backup",
            title,
            FAIL,
            f"the last restore-tested backup is {_age(int(last_verified), moment)}, older than"
            f" {max_age_hours:g} h",
            fix,
        )
    return Item(
        "backup",
        title,
        PASS,
        f"last restore-tested backup {_age(int(last_verified), moment)}"
        f" (within {max_age_hours:g} h)",
    )


async def check_replicas(repository: Any, settings: Settings) -> Item:
    """Each configured replica is reachable, replaying, and within the lag bound."""
    title = "Read replicas healthy"
    if not settings.database_replica_urls:
        return Item(
            "replicas",
            title,
            SKIP,
            "no replicas configured (WARDBOOK_DATABASE_REPLICA_URLS unset)",
        )
    await repository.probe()  # ReplicatedRepository: measure now, not at the last interval
    bound = settings.replica_max_lag_seconds
    problems, states = [], []
    for replica in repository.replicas:
        if not replica.healthy:
            why = "unreachable" if math.isinf(replica.lag_seconds) else "not in recovery"
            problems.append(f"{replica.name} is {why}")
        elif replica.lag_seconds > bound:
            problems.append(f"{replica.name} lags {replica.lag_seconds:.1f} s (bound {bound:g} s)")
        else:
            states.append(f"{replica.name} lag {replica.lag_seconds:.1f} s")
    if problems:
        return Item(
            "replicas",
            title,
            FAIL,
            "; ".join(problems),
            "see docs/operations/replicas.md and the runbook WardbookReplicaLagHigh; a promoted"
            " replica must leave WARDBOOK_DATABASE_REPLICA_URLS",
        )
    return Item("replicas", title, PASS, f"{'; '.join(states)} (bound {bound:g} s)")


async def check_audit_chain(repository: Any) -> Item:
    """``wardbook audit verify``: the AuditEvent hash chain is intact."""
    from wardbook.audit.chain import verify_chain

    title = "Audit chain verified"
    report = await verify_chain(repository)
    if report.intact:
        return Item("audit-chain", title, PASS, f"{report.checked} entries verified")
    return Item(
        "audit-chain",
        title,
        FAIL,
        f"entry {report.broken_seq} (AuditEvent/{report.broken_event}) is broken:"
        f" {report.reason}; {report.checked} entries before it are intact",
        "do not go live: treat it as a security incident, keep the database as evidence and"
        " restore the last verified backup (docs/admin/audit.md)",
    )


DatabaseCheck = Callable[[Any, Settings, Options], Awaitable[Item]]
# (id, title, check) of the items that read the database, in checklist order.
_DATABASE_ITEMS: tuple[tuple[str, str, DatabaseCheck], ...] = (
    ("migrations", "Database migrations", lambda repo, s, o: check_migrations(repo)),
    ("admin-mfa", "Admin accounts have MFA", lambda repo, s, o: check_admin_mfa(repo)),
    (
        "backup",
        "Backup taken and restore-tested",
        lambda repo, s, o: check_backup(repo, o.backup_max_age_hours),
    ),
    ("replicas", "Read replicas healthy", lambda repo, s, o: check_replicas(repo, s)),
    ("audit-chain", "Audit chain verified", lambda repo, s, o: check_audit_chain(repo)),
)


def _database_missing(url: str) -> str | None:
    """Why the check must not open ``url`` (opening a missing SQLite file would create it)."""
    if url.startswith("sqlite:///"):
        path = url[len("sqlite:///") :].partition("?")[0]
        if path != ":memory:" and not os.path.exists(path):
            return f"no database at {path}"
    return None


async def _database_items(settings: Settings, options: Options) -> list[Item]:
    from wardbook.storage.factory import open_repository

    def unavailable(reason: str) -> list[Item]:
        return [
            Item(
                item_id,
                title,
                FAIL,
                f"not checked: {reason}",
                "point WARDBOOK_DATABASE_URL (or --database) at the production database",
            )
            if item_id != "replicas" or settings.database_replica_urls
            else Item(item_id, title, SKIP, "no replicas configured")
            for item_id, title, _ in _DATABASE_ITEMS
        ]

    missing = _database_missing(settings.database_url)
    if missing:
        return unavailable(missing)
    try:
        repository = open_repository(
            settings.database_url,
            replica_urls=settings.database_replica_urls,
            max_replica_lag_seconds=settings.replica_max_lag_seconds,
        )
        await repository.open()
    except Exception as error:  # an unreachable database is a finding, not a crash
        return unavailable(f"the database cannot be opened: {error}")
    items: list[Item] = []
    try:
        for item_id, title, check in _DATABASE_ITEMS:
            try:
                items.append(await check(repository, settings, options))
            except Exception as error:  # e.g. a table a pending migration would create
                items.append(
                    Item(
                        item_id,
                        title,
                        FAIL,
                        f"could not be checked: {getattr(error, 'message', error)}",
                        "run `wardbook migrate` first if migrations are pending",
                    )
                )
    finally:
        await repository.close()
    return items


def run_checks(settings: Settings, environ: Mapping[str, str], options: Options) -> Report:
    """Every checklist item, in order: configuration first, then the database."""
    items = [
        check_production_settings(settings, environ),
        check_tls(settings, options),
        check_secrets(settings),
    ]
    items += asyncio.run(_database_items(settings, options))
    items.append(check_alert_rules(options))
    return Report(settings.env, config_check.mask_url(settings.database_url), items)
