"""The hash chain on every backend: intact after batches, broken by any altered event."""

from __future__ import annotations

import pytest

from wardbook.audit.chain import verify_chain
from wardbook.audit.records import AuditRecord
from wardbook.audit.writer import AuditWriter
from wardbook.auth.principal import Principal
from wardbook.storage.base import Dialect, Repository

pytestmark = pytest.mark.anyio

NURSE = Principal(kind="user", subject="nina", roles=frozenset({"nurse"}))


def record(n: int) -> AuditRecord:
    return AuditRecord(
        kind="rest",
        recorded=1_700_000_000_000_000 + n,
        principal=NURSE,
        source_ip="10.0.0.1",
        method="GET",
        path=f"/fhir/Patient/p{n}",
        interaction="read",
        resource_type="Patient",
        resource_id=f"p{n}",
        patients={f"p{n}"},
    )


async def test_chain_spans_batches_and_detects_tampering(repository: Repository) -> None:
    writer = AuditWriter(repository, max_batch=4)
    for n in range(10):
        await writer.submit(record(n))
    await writer.flush()
    await writer.write_now(record(10))
    report = await verify_chain(repository)
    assert report.intact and report.checked == 11

    rows = await repository.execute("SELECT event_id FROM audit_chain WHERE seq = 7", ())
    event_id = rows[0][0]
    if repository.dialect is Dialect.POSTGRES:
        tamper = (
            "UPDATE resource_version SET body = jsonb_set(body, '{outcome}', '\"8\"')"
            " WHERE res_type = 'AuditEvent' AND res_id = ?"
        )
    else:
        tamper = (
            'UPDATE resource_version SET body = replace(body, \'"outcome":"0"\','
            " '\"outcome\":\"8\"') WHERE res_type = 'AuditEvent' AND res_id = ?"
        )
    await repository.execute(tamper, (event_id,))
    report = await verify_chain(repository)
    assert not report.intact
    assert report.broken_seq == 7 and report.broken_event == event_id
    assert report.checked == 6


async def test_append_only_trigger(repository: Repository) -> None:
    writer = AuditWriter(repository)
    await writer.write_now(record(1))
    with pytest.raises(Exception, match="append-only"):
        await repository.execute("DELETE FROM audit_chain", ())
