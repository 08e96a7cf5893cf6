"""Go-live items read from the database: migrations, admin MFA, backups, replicas, audit."""

from __future__ import annotations

import math
import os
import time
from collections.abc import Awaitable, Callable
from typing import Any

from wardbook.config import Settings
from wardbook.ops.golive.report import FAIL, PASS, SKIP, Item, Options


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


async def database_items(settings: Settings, options: Options) -> list[Item]:
    """Every database item, each failing with the reason when the database cannot be read."""
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
