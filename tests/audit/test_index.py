"""The direct AuditEvent indexer gives exactly the generic extractor's rows (but _content)."""

from __future__ import annotations

import pytest

from wardbook.audit.events import audit_event, provenance
from wardbook.audit.index import audit_index, provenance_index
from wardbook.audit.records import AuditRecord
from wardbook.auth.principal import LOCAL_DEVELOPER, Principal
from wardbook.fhir.meta import stamp
from wardbook.search.extract import extract_index

NURSE = Principal(
    kind="user",
    subject="nina",
    roles=frozenset({"nurse", "physician"}),
    fhir_user="Practitioner/pr1",
)
APP = Principal(kind="client", subject="app1", client_id="app1", scopes=("system/*.rs",))
USER_APP = Principal(
    kind="user", subject="nina", roles=frozenset({"nurse"}), client_id="app2", patient="p1"
)


def records() -> list[AuditRecord]:
    t = 1_700_000_000_123_456
    return [
        AuditRecord(
            "rest",
            t,
            NURSE,
            "10.0.0.1",
            "GET",
            "/fhir/Patient/p1",
            "",
            200,
            "read",
            "Patient",
            "p1",
            None,
            {"p1"},
        ),
        AuditRecord(
            "rest",
            t,
            APP,
            "10.0.0.2",
            "GET",
            "/fhir/Observation",
            "subject=Patient/p1&code=1234-5",
            200,
            "search-type",
            "Observation",
            patients={"p1"},
        ),
        AuditRecord(
            "rest",
            t,
            USER_APP,
            None,
            "PUT",
            "/fhir/Observation/o1",
            "",
            200,
            "update",
            "Observation",
            "o1",
            "3",
            {"p1", "p2"},
        ),
        AuditRecord(
            "rest",
            t,
            LOCAL_DEVELOPER,
            "127.0.0.1",
            "DELETE",
            "/fhir/Condition/c1",
            "",
            404,
            "delete",
            "Condition",
            "c1",
            reason="not found",
        ),
        AuditRecord(
            "web", t, NURSE, "10.0.0.1", "GET", "/patients/p1", status=200, patients={"p1"}
        ),
        AuditRecord("login", t, NURSE, "10.0.0.1", "POST", "/sign-in"),
        AuditRecord(
            "login-failed",
            t,
            LOCAL_DEVELOPER,
            "10.0.0.9",
            "POST",
            "/sign-in",
            status=401,
            user_name="mallory",
            reason="wrong password",
        ),
        AuditRecord("logout", t, NURSE, "10.0.0.1", "POST", "/sign-out"),
        AuditRecord(
            "break-glass",
            t,
            NURSE,
            "10.0.0.1",
            "POST",
            "/patients/p9/break-glass",
            status=303,
            patients={"p9"},
            reason="Cardiac arrest, need the notes",
        ),
        AuditRecord(
            "rest",
            t,
            NURSE,
            "10.0.0.1",
            "GET",
            "/fhir/Patient/p1/$everything",
            "",
            403,
            "operation",
            "Patient",
            "p1",
            patients={"p1"},
        ),
    ]


@pytest.mark.parametrize("record", records(), ids=lambda r: f"{r.kind}-{r.interaction}")
def test_direct_rows_equal_the_generic_extractor(record: AuditRecord) -> None:
    event = stamp(audit_event(record, "ev1"), "ev1", 1, record.recorded + 5)
    direct = audit_index(event, record.recorded)
    generic = extract_index(event)
    for table in ("string", "token", "date", "number", "quantity", "uri", "reference", "composite"):
        assert set(getattr(direct, table)) == set(getattr(generic, table)), table
    assert direct.text == []


def writes() -> list[AuditRecord]:
    """Successful writes by each kind of agent: a user with a Practitioner, a client, the
    local developer; a create, an update and a delete (no version)."""
    t = 1_700_000_000_654_321
    return [
        AuditRecord(
            "rest",
            t,
            NURSE,
            "10.0.0.1",
            "POST",
            "/fhir/Observation",
            "",
            201,
            "create",
            "Observation",
            "o1",
            "1",
            {"p1"},
        ),
        AuditRecord(
            "rest",
            t,
            APP,
            "10.0.0.2",
            "PUT",
            "/fhir/Patient/p1",
            "",
            200,
            "update",
            "Patient",
            "p1",
            "4",
            {"p1"},
        ),
        AuditRecord(
            "rest",
            t,
            LOCAL_DEVELOPER,
            "127.0.0.1",
            "DELETE",
            "/fhir/Condition/c1",
            "",
            204,
            "delete",
            "Condition",
            "c1",
            "2",
        ),
        AuditRecord(
            "rest",
            t,
            USER_APP,
            None,
            "PATCH",
            "/fhir/Patient/p2",
            "",
            200,
            "patch",
            "Patient",
            "p2",
            "2",
            {"p2"},
        ),
    ]


@pytest.mark.parametrize("record", writes(), ids=lambda r: f"{r.principal.kind}-{r.interaction}")
def test_direct_provenance_rows_equal_the_generic_extractor_but_content(
    record: AuditRecord,
) -> None:
    made = provenance(record, "pv1")
    assert made is not None
    resource = stamp(made, "pv1", 1, record.recorded + 5)
    direct = provenance_index(resource, record.recorded)
    generic = extract_index(resource)
    for table in ("string", "token", "date", "number", "quantity", "uri", "reference", "composite"):
        assert set(getattr(direct, table)) == set(getattr(generic, table)), table
    assert generic.text and direct.text == []
    assert {row.param for row in direct.reference} >= {"target"}
