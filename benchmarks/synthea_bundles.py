"""Post the Blaze Synthea transaction Bundles through the real ASGI app: entries/s per Bundle.

In process (httpx ASGI transport, no sockets, no auth, ``Prefer: return=minimal``) on a new
database: the two batches of hospitals and practitioners, then the first ``--bundles``
patient transactions, in file order. Prints one line per Bundle and the total.
"""

from __future__ import annotations

import argparse
import asyncio
import bz2
import tempfile
import time
from pathlib import Path

import httpx

from tests.search.data import SYNTHEA
from wardbook.app import build_app
from wardbook.config import Settings
from wardbook.storage.factory import open_repository


async def post_all(url: str, count: int) -> tuple[int, float]:
    repository = open_repository(url)
    await repository.open()
    await repository.migrate()
    app = build_app(Settings(env="test", no_auth=True), repository)
    entries, seconds = 0, 0.0
    transport = httpx.ASGITransport(app=app)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://bench/fhir") as http:
            for path in sorted(SYNTHEA.glob("*.json.bz2"))[: count + 2]:
                raw = bz2.decompress(path.read_bytes())
                started = time.perf_counter()
                response = await http.post(
                    "",
                    content=raw,
                    headers={
                        "Content-Type": "application/fhir+json",
                        "Prefer": "return=minimal",
                    },
                    timeout=600,
                )
                took = time.perf_counter() - started
                response.raise_for_status()
                n = len(response.json()["entry"])
                entries, seconds = entries + n, seconds + took
                print(f"{path.name[:36]:36} {n:5} entries {took:6.2f} s {n / took:7.0f}/s")
    finally:
        await repository.close()
    return entries, seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bundles", type=int, default=40, help="patient transactions")
    parser.add_argument("--database", help="database URL (default: a new SQLite file)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="wardbook-bundles-") as tmp:
        url = args.database or f"sqlite:///{Path(tmp) / 'bundles.db'}"
        entries, seconds = asyncio.run(post_all(url, args.bundles))
    print(f"total: {entries:,} entries in {seconds:.1f} s: {entries / seconds:,.0f} entries/s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
