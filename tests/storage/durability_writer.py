"""Child process for test_durability: writes patients forever, reporting each commit.

Usage: python durability_writer.py DATABASE_URL
Prints "committed <id>" after each transaction's commit returns, then writes the next.
"""

from __future__ import annotations

import asyncio
import sys
import time

import orjson

from wardbook.search.index import IndexRows, StringRow
from wardbook.storage.base import NewVersion
from wardbook.storage.factory import open_repository


async def main(url: str) -> None:
    repository = open_repository(url)
    await repository.open()
    await repository.migrate()
    number = 0
    while True:
        number += 1
        resource_id = f"durable-{number}"
        body = {"resourceType": "Patient", "id": resource_id, "name": [{"family": "Durable"}]}
        version = NewVersion(
            "Patient",
            resource_id,
            1,
            time.time_ns() // 1000,
            "POST",
            orjson.dumps(body),
            IndexRows(string=[StringRow("family", "durable", "Durable")]),
        )
        async with repository.transaction() as tx:
            await tx.write(version)
        sys.stdout.write(f"committed {resource_id}\n")
        sys.stdout.flush()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
