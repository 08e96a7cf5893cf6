"""Server-owned metadata: instants, HTTP dates, ETags, ids."""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import format_datetime

from hypothesis import given
from hypothesis import strategies as st

from wardbook.fhir.meta import format_instant, http_date, is_valid_id, parse_etag, stamp


@given(st.integers(min_value=-2_000_000_000_000_000, max_value=4_000_000_000_000_000))
def test_http_date_is_rfc_9110_imf_fixdate(micros: int) -> None:
    moment = datetime.fromtimestamp(micros // 1_000_000, UTC)
    assert http_date(micros) == format_datetime(moment, usegmt=True)


def test_instant_has_microseconds_and_utc_offset() -> None:
    assert format_instant(1_700_000_000_123_456) == "2023-11-14T22:13:20.123456+00:00"


def test_etags() -> None:
    assert parse_etag('W/"3"') == 3
    assert parse_etag('"12"') == 12
    assert parse_etag("7") == 7
    assert parse_etag('W/"abc"') is None


def test_ids() -> None:
    assert is_valid_id("a-B.9")
    assert not is_valid_id("x" * 65)
    assert not is_valid_id("has space")
    assert not is_valid_id("")


def test_stamp_puts_server_fields_first_and_keeps_other_meta() -> None:
    out = stamp(
        {"gender": "male", "resourceType": "Patient", "meta": {"tag": [{"code": "t"}]}},
        "p1",
        2,
        1_700_000_000_000_000,
    )
    assert list(out)[:3] == ["resourceType", "id", "meta"]
    assert out["meta"]["versionId"] == "2"
    assert out["meta"]["tag"] == [{"code": "t"}]
