"""The audit writer's batch preparation: event ids and the canonical hash shortcut."""

from __future__ import annotations

import uuid

import orjson

from wardbook.audit.chain import canonical_hash, canonical_hash_of
from wardbook.audit.writer import _uuid4s


def test_event_ids_are_distinct_random_uuid4s() -> None:
    ids = _uuid4s(500)
    assert len(set(ids)) == 500
    for text in ids:
        parsed = uuid.UUID(text)
        assert parsed.version == 4 and parsed.variant == uuid.RFC_4122
        assert str(parsed) == text


def test_hash_of_the_dict_equals_hash_of_its_serialized_body() -> None:
    resource = {
        "resourceType": "AuditEvent",
        "id": "x",
        "meta": {"versionId": "1", "lastUpdated": "2026-11-25T13:45:01.123456+00:00"},
        "recorded": "2026-11-25T13:45:01.123456+00:00",
        "outcome": "0",
        "agent": [{"who": {"display": "é ünïcode"}, "requestor": True}],
        "entity": [{"what": {"reference": "Patient/p1"}, "n": 1.5}],
    }
    assert canonical_hash_of(resource) == canonical_hash(orjson.dumps(resource))
