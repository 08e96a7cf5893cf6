"""SMART scope syntax, v2 and v1 (scopes-and-launch-context.html), as pure functions."""

from __future__ import annotations

import pytest

from wardbook.auth.scopes import (
    ScopeError,
    ScopeSet,
    escalates,
    narrow,
    parse_resource_scope,
)


def test_v2_scope_letters_and_query() -> None:
    scope = parse_resource_scope("patient/Observation.rs?category=laboratory")
    assert scope.context == "patient" and scope.resource_type == "Observation"
    assert scope.letters == frozenset("rs")
    assert scope.query == (("category", "laboratory"),)
    assert scope.allows("r", "Observation") and not scope.allows("c", "Observation")
    assert not scope.allows("r", "Condition")


@pytest.mark.parametrize(
    ("v1", "letters"),
    [("patient/*.read", "rs"), ("user/*.write", "cud"), ("user/*.*", "cruds")],
)
def test_v1_scopes_map_onto_v2(v1: str, letters: str) -> None:
    assert parse_resource_scope(v1).letters == frozenset(letters)


@pytest.mark.parametrize(
    "bad",
    [
        "patient/Observation.sr",  # out of order
        "patient/Observation.rr",  # repeated
        "patient/Observation.x",
        "clinic/Observation.rs",
        "patient/NotAType.rs",
        "patient/*.read?category=x",  # v1 has no queries
        "patient/Observation.rs?category",
    ],
)
def test_malformed_scopes_are_refused(bad: str) -> None:
    with pytest.raises(ScopeError):
        parse_resource_scope(bad)


def test_scope_set_matches_actions() -> None:
    scopes = ScopeSet.parse(["openid", "patient/Observation.rs", "user/Patient.cruds", "junk"])
    assert scopes.has("openid")
    assert [s.text for s in scopes.matching("read", "Observation")] == ["patient/Observation.rs"]
    assert scopes.matching("create", "Observation") == []
    assert [s.text for s in scopes.matching("delete", "Patient")] == ["user/Patient.cruds"]


def test_narrow_to_a_registration() -> None:
    allowed = ["openid", "patient/*.rs", "user/Observation.cruds"]
    requested = [
        "openid",
        "fhirUser",
        "patient/Observation.rs",
        "patient/*.cruds",
        "user/Observation.r",
    ]
    assert narrow(requested, allowed) == ["openid", "patient/Observation.rs", "user/Observation.r"]


def test_escalation_on_refresh_is_detected() -> None:
    granted = ["offline_access", "patient/Observation.rs", "patient/Patient.r"]
    assert escalates(["patient/Observation.r", "offline_access"], granted) == []
    assert escalates(["patient/Observation.cruds"], granted) == ["patient/Observation.cruds"]
    assert escalates(["patient/*.rs"], granted) == ["patient/*.rs"]
    assert escalates(["openid"], granted) == ["openid"]
