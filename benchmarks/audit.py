"""What auditing every read costs: Patient read throughput with audit off, buffered, sync.

Same server binary, same database, same run; only ``WARDBOOK_AUDIT_MODE`` changes:
``off`` (no AuditEvents; development only), ``buffered`` (the default: records batched
every 100 ms into one transaction), ``sync`` (each request commits its AuditEvent before
the response, the design we did not take). Figures are ratios to ``/livez`` (unaudited)
and to ``off`` in the same run. Results: docs/benchmarks.md, "Audit".
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import urllib.request
import uuid
from pathlib import Path
from typing import Any

from benchmarks.run import BIN, READ_LUA, ROOT, ensure_wrk, psql, wait_ready, wardbook, wrk

MODES = ("off", "buffered", "sync")


def bench_mode(mode: str, database: str, args: argparse.Namespace, wrk_bin: str) -> dict[str, Any]:
    with socket.socket() as sock:  # a fresh port per mode: the last server may linger
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    env = {**os.environ, "WARDBOOK_AUDIT_MODE": mode, "WARDBOOK_LOG_LEVEL": "warning"}
    server = subprocess.Popen(
        [str(BIN / "wardbook"), "serve", "--database", database, "--port", str(port), "--no-auth"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_ready(port)
        base = f"http://127.0.0.1:{port}"
        with urllib.request.urlopen(f"{base}/fhir/Patient?_count=1000") as response:
            ids = [e["resource"]["id"] for e in json.load(response).get("entry", [])]
        with tempfile.TemporaryDirectory() as tmp:
            read_lua = Path(tmp, "read.lua")
            read_lua.write_text(READ_LUA % ",".join(f'"{i}"' for i in ids))
            wrk(wrk_bin, f"{base}/livez", 2, args.connections, None)
            hello = wrk(wrk_bin, f"{base}/livez", args.seconds, args.connections, None)
            read = wrk(wrk_bin, base, args.seconds, args.connections, read_lua)
    finally:
        server.send_signal(signal.SIGINT)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
    return {"mode": mode, "hello": hello, "read": read, "read_ratio": read["rps"] / hello["rps"]}


def bench_backend(name: str, database: str, args: argparse.Namespace, wrk_bin: str) -> list[Any]:
    wardbook("migrate", database=database)
    wardbook("demo", "--patients", str(args.patients), "--seed", "7", database=database)
    return [{"backend": name, **bench_mode(m, database, args, wrk_bin)} for m in MODES]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--patients", type=int, default=50)
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "all"], default="all")
    args = parser.parse_args()
    wrk_bin = ensure_wrk()
    results: list[Any] = []
    with tempfile.TemporaryDirectory() as tmp:
        if args.backend in ("sqlite", "all"):
            results += bench_backend("sqlite", f"sqlite:///{tmp}/audit.db", args, wrk_bin)
        if args.backend in ("postgresql", "all"):
            db = f"wardbook_bench_{uuid.uuid4().hex[:8]}"
            psql(f"CREATE DATABASE {db}")
            try:
                url = f"postgresql://postgres@127.0.0.1:5432/{db}"
                results += bench_backend("postgresql", url, args, wrk_bin)
            finally:
                psql(f"DROP DATABASE IF EXISTS {db} WITH (FORCE)")
    out_dir = ROOT / "benchmarks" / "results"
    out_dir.mkdir(exist_ok=True)
    (out_dir / "audit.json").write_text(json.dumps(results, indent=2))
    print(
        "| backend | audit | hello rps | read rps | read / hello | read / audit off | p50/p99 ms |"
    )
    print("|---|---|---|---|---|---|---|")
    for r in results:
        off = next(x for x in results if x["backend"] == r["backend"] and x["mode"] == "off")
        print(
            f"| {r['backend']} | {r['mode']} | {r['hello']['rps']:.0f} | {r['read']['rps']:.0f} "
            f"| {r['read_ratio']:.0%} | {r['read']['rps'] / off['read']['rps']:.0%} "
            f"| {r['read']['p50']:.2f} / {r['read']['p99']:.2f} |"
        )
        if r["read"]["non_2xx"]:
            print(f"WARNING: {r['backend']} {r['mode']}: {r['read']['non_2xx']} non-2xx")
    return 0


if __name__ == "__main__":
    sys.exit(main())
