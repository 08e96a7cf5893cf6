"""CPU per request in process: /livez, Patient read and Patient create through the whole app.

Usage: .venv/bin/python -m benchmarks.inproc [--backend sqlite|postgresql|all] [--requests N]

Drives the ASGI application directly (no sockets, no HTTP parser) with 16 concurrent
requests on uvloop, the same middleware stack ``wardbook serve --no-auth`` builds, the
buffered audit writer running. ``time.process_time`` counts every thread of this process
(the audit writer's SQLite thread included) but not PostgreSQL's own processes, so it is
robust to other jobs on the machine. Prints µs of this process's CPU per request and the
read and create costs relative to /livez. With ``WARDBOOK_AUDIT_WRITER=process`` the
records are committed by an audit process: its CPU per request is printed beside (from
``/proc``), not added (it runs on another core). ``--profile FILE`` writes cProfile stats of the
read and create passes.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import logging
import os
import subprocess
import sys
import tempfile
import time
import uuid
from typing import Any

import orjson

from benchmarks.run import BIN, PG_ADMIN

BODY = orjson.dumps(
    {
        "resourceType": "Patient",
        "name": [{"family": "Bench", "given": ["Mark"]}],
        "gender": "unknown",
        "birthDate": "1970-01-01",
        "identifier": [{"system": "https://wardbook.example.org/mrn", "value": "B1"}],
    }
)


def scope(method: str, path: str, headers: list[tuple[bytes, bytes]]) -> dict[str, Any]:
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [(b"host", b"127.0.0.1:8080"), *headers],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8080),
        "state": {},
    }


async def one(app: Any, method: str, path: str, body: bytes, headers: list[Any]) -> int:
    status = 0
    sent = False

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if sent:
            await asyncio.sleep(3600)
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]

    await app(scope(method, path, headers), receive, send)
    return status


async def drive(app: Any, make: Any, count: int, concurrency: int = 16) -> float:
    """CPU µs per request over ``count`` requests, ``concurrency`` at a time."""
    it = iter(range(count))
    bad = 0

    async def worker() -> None:
        nonlocal bad
        for i in it:
            status = await one(app, *make(i))
            if status >= 300:
                bad += 1

    start = time.process_time()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.process_time() - start
    if bad:
        print(f"WARNING: {bad} non-2xx responses", file=sys.stderr)
    return elapsed / count * 1e6


async def bench(database: str, requests: int, profile: str | None) -> dict[str, float]:
    from wardbook.app import build_app
    from wardbook.config import load_settings

    env = {**os.environ, "WARDBOOK_DATABASE_URL": database, "WARDBOOK_NO_AUTH": "1"}
    settings = load_settings(env)
    app = build_app(settings)
    lifespan_q: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    done: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    await lifespan_q.put({"type": "lifespan.startup"})
    task = asyncio.create_task(
        app({"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}, lifespan_q.get, done.put)
    )
    await done.get()
    try:
        status_ids: list[str] = []

        async def grab(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.body" and message.get("body"):
                bundle = orjson.loads(message["body"])
                status_ids.extend(e["resource"]["id"] for e in bundle.get("entry", []))

        s = scope("GET", "/fhir/Patient", [])
        s["query_string"] = b"_count=1000&_elements=id"

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": b"", "more_body": False}

        await app(s, receive, grab)
        ids = status_ids
        accept = [(b"accept", b"application/fhir+json")]
        ctype = [(b"content-type", b"application/fhir+json")]
        cases = {
            "hello": lambda i: ("GET", "/livez", b"", []),
            "read": lambda i: ("GET", f"/fhir/Patient/{ids[i % len(ids)]}", b"", accept),
            "create": lambda i: ("POST", "/fhir/Patient", BODY, ctype),
        }
        out: dict[str, float] = {}
        prof = cProfile.Profile() if profile else None
        for name, make in cases.items():
            await drive(app, make, max(200, requests // 10))  # warm-up
            writer = app_writer(app)
            if writer is not None:
                await writer.flush()
            best = float("inf")
            best_child = 0.0
            for _ in range(3):
                child_start = child_cpu(writer)
                if prof is not None and name != "hello":
                    prof.enable()
                cost = await drive(app, make, requests)
                if writer is not None:  # the audit work these requests caused
                    start = time.process_time()
                    await writer.flush()
                    cost += (time.process_time() - start) / requests * 1e6
                if prof is not None:
                    prof.disable()
                if cost < best:
                    best = cost
                    best_child = (child_cpu(writer) - child_start) / requests * 1e6
            out[name] = best
            out[f"{name}_audit_process"] = best_child
        if prof is not None and profile:
            prof.dump_stats(profile)
        return out
    finally:
        await lifespan_q.put({"type": "lifespan.shutdown"})
        await task


def child_cpu(writer: Any) -> float:
    """CPU seconds the writer's audit process has used so far (0 without one)."""
    pid = getattr(writer, "pid", None)
    if pid is None:
        return 0.0
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def app_writer(app: Any) -> Any:
    """The audit writer inside the middleware stack (to flush between passes)."""
    seen = 0
    while app is not None and seen < 20:
        writer = getattr(app, "writer", None)
        if writer is not None and hasattr(writer, "flush"):
            return writer
        app = getattr(app, "app", None)
        seen += 1
    return None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "all"], default="all")
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--patients", type=int, default=100)
    parser.add_argument("--profile", help="cProfile stats file (read and create passes)")
    args = parser.parse_args()
    logging.basicConfig(stream=open(os.devnull, "w"), level=logging.INFO)  # noqa: SIM115
    logging.logProcesses = logging.logThreads = logging.logMultiprocessing = False
    import uvloop

    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        backends = ["sqlite", "postgresql"] if args.backend == "all" else [args.backend]
        for backend in backends:
            db = ""
            if backend == "sqlite":
                url = f"sqlite:///{tmp}/inproc.db"
            else:
                db = f"wardbook_inproc_{uuid.uuid4().hex[:8]}"
                subprocess.run(["psql", PG_ADMIN, "-q", "-c", f"CREATE DATABASE {db}"], check=True)
                url = f"postgresql://postgres@127.0.0.1:5432/{db}"
            try:
                for cmd in (["migrate"], ["demo", "--patients", str(args.patients), "--seed", "7"]):
                    subprocess.run(
                        [str(BIN / "wardbook"), *cmd, "--database", url],
                        check=True,
                        capture_output=True,
                    )
                profile = f"{args.profile}.{backend}" if args.profile else None
                results[backend] = uvloop.run(bench(url, args.requests, profile))
            finally:
                if db:
                    subprocess.run(
                        [
                            "psql",
                            PG_ADMIN,
                            "-q",
                            "-c",
                            f"DROP DATABASE IF EXISTS {db} WITH (FORCE)",
                        ],
                        check=True,
                    )
    print(
        "| backend | hello µs | read µs (hello/read) | create µs (hello/create) "
        "| audit process µs per read / create |"
    )
    print("|---|---|---|---|---|")
    for backend, r in results.items():
        print(
            f"| {backend} | {r['hello']:.0f} | {r['read']:.0f} ({r['hello'] / r['read']:.0%}) "
            f"| {r['create']:.0f} ({r['hello'] / r['create']:.0%}) "
            f"| {r['read_audit_process']:.0f} / {r['create_audit_process']:.0f} |"
        )
    return 0


if __name__ == "__main__":
    _ = cProfile  # keep the import for --profile
    sys.exit(main())
