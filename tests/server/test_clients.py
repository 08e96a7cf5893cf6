"""Real FHIR client libraries (fhirpy, fhirclient) against a running server."""

from __future__ import annotations

from fhirclient import client as smart_client
from fhirclient.models.humanname import HumanName
from fhirclient.models.patient import Patient as SmartPatient
from fhirpy import SyncFHIRClient

from tests.server.conftest import Server


def test_fhirpy_round_trip(server: Server) -> None:
    fhir = SyncFHIRClient(server.fhir)
    patient = fhir.resource(
        "Patient",
        name=[{"family": "Nakamura", "given": ["Aiko"]}],
        gender="female",
        birthDate="1990-07-14",
    )
    patient.save()
    assert patient.id
    assert patient["meta"]["versionId"] == "1"

    fetched = fhir.reference("Patient", patient.id).to_resource()
    assert fetched["name"][0]["family"] == "Nakamura"

    fetched["gender"] = "other"
    fetched.save()
    assert fetched["meta"]["versionId"] == "2"

    found = fhir.resources("Patient").search(family="nakamura").fetch_all()
    assert [p.id for p in found] == [patient.id]

    history = fhir.execute(f"Patient/{patient.id}/_history", method="get")
    assert history["total"] == 2

    fetched.delete()
    assert fhir.resources("Patient").search(_id=patient.id).count() == 0

    # get_or_create sends the search as the POST's query string: one resource, found again
    mrn = {"system": "https://wardbook.example.org/mrn", "value": "FHIRPY-1"}
    query = fhir.resources("Patient").search(identifier="https://wardbook.example.org/mrn|FHIRPY-1")
    made = query.get_or_create(fhir.resource("Patient", identifier=[mrn]))
    again = query.get_or_create(fhir.resource("Patient", identifier=[mrn]))
    made_id = made[0].id if isinstance(made, tuple) else made.id
    again_id = again[0].id if isinstance(again, tuple) else again.id
    assert made_id == again_id
    assert query.count() == 1


def test_fhirclient_round_trip(server: Server) -> None:
    smart = smart_client.FHIRClient(settings={"app_id": "wardbook-test", "api_base": server.fhir})
    patient = SmartPatient({"gender": "male", "birthDate": "1955-01-31"})
    name = HumanName()
    name.family = "Mensah"
    name.given = ["Kwame"]
    patient.name = [name]

    created = patient.create(smart.server)
    assert created is not None and created["id"]
    pid = created["id"]

    read = SmartPatient.read(pid, smart.server)
    assert read.name[0].family == "Mensah"
    assert read.birthDate.isostring == "1955-01-31"

    read.gender = "unknown"
    read.update(smart.server)
    again = SmartPatient.read(pid, smart.server)
    assert again.gender == "unknown"
    assert again.meta.versionId == "2"

    read.delete(smart.server)
    response = smart.server.session.get(f"{server.fhir}/Patient/{pid}")
    assert response.status_code == 410
