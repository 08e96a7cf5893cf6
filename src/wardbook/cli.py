"""The ``wardbook`` command line (INTERFACES.md): thin wrappers over the service layer.

Errors are one clear line on stderr and a non-zero exit; long work shows a progress bar
on a terminal.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
from collections.abc import Awaitable, Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, TypeVar

from wardbook.config import ConfigError, Settings, load_settings
from wardbook.errors import WardbookError

T = TypeVar("T")


def _settings(args: argparse.Namespace) -> Settings:
    settings = load_settings()
    return settings.with_overrides(database_url=getattr(args, "database", None))


async def _with_repository(
    settings: Settings, work: Callable[[Any], Awaitable[T]], *, migrate: bool = False
) -> T:
    from wardbook.storage.factory import open_repository

    repository = open_repository(settings.database_url)
    await repository.open()
    try:
        if not migrate:  # ``wardbook migrate`` applies them itself, and reports them
            pending = await repository.pending_migrations()
            if pending:
                raise ConfigError(
                    f"The database needs migrating ({len(pending)} pending): run 'wardbook migrate'"
                )
            from wardbook.service.reindex import load_custom_parameters

            # Writes here must index the custom SearchParameters too (see reindex.py).
            await load_custom_parameters(repository)
        return await work(repository)
    finally:
        await repository.close()


def cmd_migrate(args: argparse.Namespace) -> int:
    settings = _settings(args)

    async def work(repository: Any) -> list[str]:
        return list(await repository.migrate())

    applied = asyncio.run(_with_repository(settings, work, migrate=True))
    print(f"Applied {len(applied)} migration(s)" + (f": {', '.join(applied)}" if applied else ""))
    return 0


def _progress(total: int | None, unit: str, desc: str) -> Any:
    from tqdm import tqdm

    return tqdm(total=total, unit=unit, desc=desc, disable=not sys.stderr.isatty(), file=sys.stderr)


def cmd_load(args: argparse.Namespace) -> int:
    from wardbook.service.ingest import ingest
    from wardbook.service.loader import LoadReport, iter_files
    from wardbook.service.resources import ResourceService

    settings = _settings(args)
    paths = [Path(p) for p in args.paths]
    for path in paths:
        if not path.exists():
            raise ConfigError(f"{path}: no such file or folder")
    if args.workers is not None and args.workers < 0:
        raise ConfigError("--workers must be 0 or more")
    total_bytes = sum(path.stat().st_size for path in iter_files(paths))

    async def work(repository: Any) -> LoadReport:
        bar = _load_progress(total_bytes)
        try:
            report = await ingest(
                ResourceService(repository),
                paths,
                workers=args.workers,
                progress=bar.update,
                database_url=settings.database_url,
            )
        finally:
            bar.close()
        if report.written:
            await repository.refresh_statistics()
        return report

    report = asyncio.run(_with_repository(settings, work))
    print(
        f"Loaded {report.written} resource(s), {report.unchanged} unchanged, "
        f"{len(report.rejected)} rejected, from {report.files} file(s)"
    )
    if report.deferred:
        left = sum(report.unresolved.values())
        print(
            f"{report.deferred} resource(s) named a conditional reference that matched nothing"
            f" when read; retried after the whole input: {report.deferred - left} loaded,"
            f" {left} not"
        )
    for rejected in report.rejected:
        print(
            f"rejected {rejected.reference} ({rejected.source}): {rejected.reason}", file=sys.stderr
        )
    if report.unresolved:
        # Last, after the list of rejections (which can be long): what the operator reads.
        print(_unresolved_summary(report.unresolved), file=sys.stderr)
    return 1 if report.rejected else 0


def _unresolved_summary(unresolved: dict[str, int], examples: int = 3) -> str:
    """One line: how many conditional references matched nothing, the commonest first."""
    resources = sum(unresolved.values())
    commonest = sorted(unresolved.items(), key=lambda pair: (-pair[1], pair[0]))[:examples]
    shown = ", ".join(f"{reference} ({count})" for reference, count in commonest)
    more = f" and {len(unresolved) - examples} more" if len(unresolved) > examples else ""
    return (
        f"{len(unresolved)} conditional reference(s) matched no resource after the whole input"
        " was loaded;"
        f" {resources} resource(s) naming them were not loaded: {shown}{more}"
    )


class _LoadProgress:
    """A progress bar over the input bytes (so the ETA is real) showing resources/s."""

    def __init__(self, total_bytes: int) -> None:
        import time

        self._clock = time.monotonic
        self._start = self._clock()
        self._bar = _progress(total_bytes, "B", "loading")
        self._bar.unit_scale = True
        self._bar.bar_format = "{desc}: {percentage:3.0f}%|{bar}| {postfix} [{elapsed}<{remaining}]"
        self._bytes = 0

    def update(self, resources: int, done_bytes: int) -> None:
        self._bar.update(done_bytes - self._bytes)
        self._bytes = done_bytes
        rate = resources / max(self._clock() - self._start, 1e-6)
        self._bar.set_postfix_str(f"{resources} resources, {rate:,.0f} resources/s")

    def close(self) -> None:
        self._bar.close()


def _load_progress(total_bytes: int) -> _LoadProgress:
    return _LoadProgress(total_bytes)


def cmd_demo(args: argparse.Namespace) -> int:
    from wardbook.demo import generate, shared_resources
    from wardbook.service.loader import Item, LoadReport, load_items
    from wardbook.service.resources import ResourceService

    if args.patients < 0:
        raise ConfigError("--patients must be 0 or more")
    settings = _settings(args)
    report = LoadReport()

    async def work(repository: Any) -> None:
        service = ResourceService(repository)
        bar = _progress(args.patients, "patient", "demo data")

        def items() -> Iterator[Item]:
            for resource in shared_resources(args.seed):
                yield Item("demo", resource)
            for resources in generate(args.patients, args.seed):
                for resource in resources:
                    yield Item("demo", resource)
                bar.update(1)

        try:
            await load_items(service, items(), report)
        finally:
            bar.close()
        if report.written:
            await repository.refresh_statistics()

    asyncio.run(_with_repository(settings, work))
    print(
        f"Demo data: {args.patients} patient(s), {report.written} resource(s) written, "
        f"{report.unchanged} unchanged"
    )
    for rejected in report.rejected:
        print(f"rejected {rejected.reference}: {rejected.reason}", file=sys.stderr)
    return 1 if report.rejected else 0


def _prepare_metrics_dir(directory: str) -> None:
    """Empty ``directory`` (a previous run's files would be summed) and export it to the
    workers. prometheus_client picks its storage when imported, so this runs first."""
    os.makedirs(directory, exist_ok=True)
    for name in os.listdir(directory):
        if name.endswith(".db"):
            os.unlink(os.path.join(directory, name))
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = directory


def cmd_serve(args: argparse.Namespace) -> int:
    # Before anything imports prometheus_client: the workers share metric files here.
    metrics_dir = os.environ.get("PROMETHEUS_MULTIPROC_DIR") or os.path.join(
        tempfile.gettempdir(), f"wardbook-metrics-{os.getpid()}"
    )
    _prepare_metrics_dir(metrics_dir)
    from wardbook.ops.logging import logging_config

    settings = _settings(args).with_overrides(
        host=args.host, port=args.port, workers=args.workers, no_auth=args.no_auth or None
    )
    settings.check()
    # The app factory reads settings from the environment in each worker process.
    os.environ["WARDBOOK_DATABASE_URL"] = settings.database_url
    os.environ["WARDBOOK_HOST"] = settings.host
    os.environ["WARDBOOK_PORT"] = str(settings.port)
    os.environ["WARDBOOK_NO_AUTH"] = "true" if settings.no_auth else "false"
    # Each worker commits its audit records in an audit process of its own, off the
    # worker's GIL (wardbook.audit.process); WARDBOOK_AUDIT_WRITER=thread keeps them in.
    os.environ.setdefault("WARDBOOK_AUDIT_WRITER", "process")

    async def check(repository: Any) -> None:
        return None

    asyncio.run(_with_repository(settings, check))  # fail fast: reachable and migrated

    from granian import Granian
    from granian.constants import Interfaces, Loops

    server = Granian(
        "wardbook.app:create_app",
        factory=True,
        address=settings.host,
        port=settings.port,
        interface=Interfaces.ASGI,
        loop=Loops.uvloop,  # asyncpg and the ASGI bridge both run faster on it
        workers=settings.workers,
        log_dictconfig=logging_config(settings.log_level),
        log_access=False,
    )
    server.serve()
    return 0


def cmd_backup(args: argparse.Namespace) -> int:
    from wardbook.storage.backup import backup

    settings = _settings(args).with_overrides(backup_verify_database=args.verify_database)
    output = Path(args.output)
    manifest = asyncio.run(
        backup(
            settings.database_url,
            output,
            verify=args.verify,
            verify_database=settings.backup_verify_database,
        )
    )
    versions = manifest.tables.get("resource_version", 0)
    checked = " and verified by a test restore" if args.verify else ""
    print(f"Backed up {versions} resource version(s) to {output}{checked}")
    return 0


def cmd_restore(args: argparse.Namespace) -> int:
    from wardbook.storage.backup import restore

    settings = _settings(args)
    manifest = asyncio.run(restore(Path(args.input), settings.database_url))
    versions = manifest.tables.get("resource_version", 0)
    print(f"Restored {versions} resource version(s); every table matches the backup")
    return 0


def cmd_reindex(args: argparse.Namespace) -> int:
    """``wardbook reindex [--type T]...``: a $reindex job in the foreground, with progress."""
    from wardbook.service import reindex

    settings = _settings(args)

    async def work(repository: Any) -> reindex.Job:
        try:
            job = await reindex.start_job(repository, args.types or None)
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
        bar = _progress(job.total, "res", "reindexing")

        def progress(state: reindex.Job) -> None:
            bar.update(state.processed - bar.n)

        try:
            return await reindex.run_job(repository, job.id, progress=progress)
        finally:
            bar.close()

    job = asyncio.run(_with_repository(settings, work))
    for item in job.notes.get("skipped", []):
        print(f"skipped {item['url']}: {item['reason']}", file=sys.stderr)
    if job.status != "done":
        raise ConfigError(f"reindex job {job.id} {job.status}: {job.error or 'see the log'}")
    activated = ", ".join(f"{a['base']}:{a['url']}" for a in job.notes.get("activated", []))
    print(
        f"Reindexed {job.processed} resource(s) (job {job.id})"
        + (f"; now searchable: {activated}" if activated else "")
    )
    return 0


def cmd_config_check(args: argparse.Namespace) -> int:
    """Print the effective configuration (secrets masked); exit 1 when anything is wrong."""
    from wardbook.ops.config_check import check

    settings = load_settings()
    flags = frozenset({"database_url"} if args.database else ())
    report = check(settings.with_overrides(database_url=args.database), os.environ, flags)
    print(report.as_json() if args.json else report.as_text())
    return 0 if report.ok else 1


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="wardbook", description="Wardbook clinical records platform (FHIR R4)"
    )
    sub = parser.add_subparsers(dest="command", required=True)

    def command(name: str, help_text: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.add_argument(
            "--database",
            help="database URL (default: $WARDBOOK_DATABASE_URL or sqlite:///./wardbook.db)",
        )
        return p

    serve = command("serve", "serve the web app at / and FHIR at /fhir")
    serve.add_argument("--host", default=None, help="address to bind (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=None, help="port (default 8080)")
    serve.add_argument("--workers", type=int, default=None, help="worker processes (default 1)")
    serve.add_argument(
        "--no-auth", action="store_true", help="no authentication (loopback development only)"
    )
    serve.set_defaults(func=cmd_serve)

    migrate = command("migrate", "bring the database schema up to date (safe to run twice)")
    migrate.set_defaults(func=cmd_migrate)

    load = command("load", "load FHIR Bundles, NDJSON files or folders (.gz/.bz2 too)")
    load.add_argument("paths", nargs="+", metavar="PATH")
    load.add_argument(
        "--workers",
        type=int,
        default=None,
        help="processes that parse, validate and index (default: one per core; 0: none)",
    )
    load.set_defaults(func=cmd_load)

    demo = command("demo", "write realistic demo patients, deterministic for a seed")
    demo.add_argument("--patients", type=int, default=50)
    demo.add_argument("--seed", type=int, default=1)
    demo.set_defaults(func=cmd_demo)

    from wardbook.cli_security import register as register_security

    register_security(sub, command)
    reindex = command("reindex", "rebuild search indexes; activates custom SearchParameters")
    reindex.add_argument(
        "--type", action="append", dest="types", metavar="TYPE", help="only this type (repeatable)"
    )
    reindex.set_defaults(func=cmd_reindex)

    backup = command("backup", "full backup while the server runs (history, deletes, audit)")
    backup.add_argument("--output", required=True, metavar="FILE")
    backup.add_argument(
        "--verify", action="store_true", help="restore into a scratch database and compare"
    )
    backup.add_argument(
        "--verify-database",
        metavar="NAME_OR_URL",
        help="PostgreSQL: the dedicated scratch database --verify restores into, emptied"
        " before and after (default: env WARDBOOK_BACKUP_VERIFY_DATABASE, else a temporary"
        " database, which needs CREATEDB)",
    )
    backup.set_defaults(func=cmd_backup)

    restore = command("restore", "restore a backup into a new, empty database")
    restore.add_argument("--input", required=True, metavar="FILE")
    restore.set_defaults(func=cmd_restore)

    config = sub.add_parser("config", help="configuration tools", description="configuration")
    config_sub = config.add_subparsers(dest="config_command", required=True)
    config_check = config_sub.add_parser(
        "check",
        help="print the effective configuration for $WARDBOOK_ENV (secrets masked)",
        description="Print the effective configuration for $WARDBOOK_ENV with secrets masked;"
        " exit 1 and list every problem when it is not safe to run.",
    )
    config_check.add_argument("--database", help="database URL (overrides the environment)")
    config_check.add_argument("--json", action="store_true", help="machine-readable output")
    config_check.set_defaults(func=cmd_config_check)
    from wardbook.cli_smart import register as register_smart

    register_smart(sub, command)
    from wardbook.cli_golive import register as register_golive

    register_golive(sub, command)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except (WardbookError, OSError) as error:
        message = error.message if isinstance(error, WardbookError) else str(error)
        print(f"wardbook {args.command}: {message}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"wardbook {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
