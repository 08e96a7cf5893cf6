"""The clinical content is coherent: encounters, conditions, allergies, medicines, notes and
appointments use the intended code systems and agree with each other and with ``now``."""

from __future__ import annotations

import base64
from collections import Counter
from typing import Any

from .helpers import codings, moment, of_type

SNOMED = "http://snomed.info/sct"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
LOINC = "http://loinc.org"
PENICILLINS = {"308192", "308182", "562251"}  # amoxicillin, co-amoxiclav


def test_encounters_use_act_codes_and_only_one_admission_is_open(
    records: list[list[Any]], now: Any
) -> None:
    classes: Counter[str] = Counter()
    for record in records:
        encounters = of_type(record, "Encounter")
        assert encounters, "every patient has been seen at least once"
        open_ = [e for e in encounters if e["status"] == "in-progress"]
        assert len(open_) <= 1
        for encounter in encounters:
            system, code = encounter["class"]["system"], encounter["class"]["code"]
            assert system == "http://terminology.hl7.org/CodeSystem/v3-ActCode"
            classes[code] += 1
            start = moment(encounter["period"]["start"])
            assert start < now
            if encounter["status"] == "finished":
                assert start <= moment(encounter["period"]["end"]) <= now
            else:
                assert code == "IMP" and "end" not in encounter["period"]
            assert encounter["location"][0]["location"]["reference"].startswith("Location/")
            assert encounter["participant"][0]["individual"]["reference"].startswith(
                "Practitioner/"
            )
            for reason in encounter.get("reasonCode", []):
                assert codings(reason)[0][0] == SNOMED
    assert set(classes) == {"IMP", "AMB", "EMER"}
    assert (
        sum(
            1 for r in records if any(e["status"] == "in-progress" for e in of_type(r, "Encounter"))
        )
        >= 5
    )


def test_conditions_are_snomed_with_consistent_statuses(resources: list[Any]) -> None:
    categories: Counter[str] = Counter()
    for condition in of_type(resources, "Condition"):
        assert codings(condition["code"])[0][0] == SNOMED
        clinical = codings(condition["clinicalStatus"])[0]
        verification = codings(condition["verificationStatus"])[0]
        assert clinical[0] == "http://terminology.hl7.org/CodeSystem/condition-clinical"
        assert verification[0] == "http://terminology.hl7.org/CodeSystem/condition-ver-status"
        category = codings(condition["category"][0])[0]
        assert category[0] == "http://terminology.hl7.org/CodeSystem/condition-category"
        categories[category[1]] += 1
        if "abatementDateTime" in condition:  # con-4
            assert clinical[1] in {"inactive", "resolved", "remission"}
            assert moment(condition["abatementDateTime"]) >= moment(condition["onsetDateTime"])
        if category[1] == "encounter-diagnosis":
            assert condition["encounter"]["reference"].startswith("Encounter/")
    assert categories["problem-list-item"] > 0 and categories["encounter-diagnosis"] > 0
    statuses = Counter(codings(c["clinicalStatus"])[0][1] for c in of_type(resources, "Condition"))
    assert statuses["active"] > 0 and statuses["resolved"] > 0


def test_about_a_third_record_no_known_allergies(many_records: list[list[Any]]) -> None:
    records = many_records
    nka = sum(
        1
        for record in records
        if any(
            codings(a["code"]) == [(SNOMED, "716186003")]
            for a in of_type(record, "AllergyIntolerance")
        )
    )
    assert 0.25 < nka / len(records) < 0.45


def test_allergies_have_statuses_reactions_and_no_contradictions(resources: list[Any]) -> None:
    for allergy in of_type(resources, "AllergyIntolerance"):
        assert codings(allergy["clinicalStatus"])[0][0] == (
            "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical"
        )
        assert codings(allergy["verificationStatus"])[0][0] == (
            "http://terminology.hl7.org/CodeSystem/allergyintolerance-verification"
        )
        assert codings(allergy["code"])[0][0] in {SNOMED, RXNORM}
        if codings(allergy["code"]) == [(SNOMED, "716186003")]:
            assert "reaction" not in allergy and "criticality" not in allergy
            continue
        assert allergy["type"] in {"allergy", "intolerance"}
        assert allergy["criticality"] in {"low", "high", "unable-to-assess"}
        for reaction in allergy["reaction"]:
            assert reaction["severity"] in {"mild", "moderate", "severe"}
            assert all(codings(m)[0][0] == SNOMED for m in reaction["manifestation"])


def test_medicines_are_rxnorm_orders_with_dosage(resources: list[Any]) -> None:
    statuses: Counter[str] = Counter()
    for request in of_type(resources, "MedicationRequest"):
        ((system, code),) = codings(request["medicationCodeableConcept"])
        assert system == RXNORM and code.isdigit()
        assert request["intent"] == "order"
        assert request["requester"]["reference"].startswith("Practitioner/")
        dosage = request["dosageInstruction"][0]
        assert dosage["text"]
        statuses[request["status"]] += 1
    assert statuses["active"] > 0 and statuses["completed"] > 0


def test_no_one_is_prescribed_a_drug_they_are_allergic_to(
    many_records: list[list[Any]],
) -> None:
    for record in many_records:
        allergic = any(
            codings(a["code"]) == [(SNOMED, "91936005")]
            for a in of_type(record, "AllergyIntolerance")
        )
        if allergic:
            drugs = {
                codings(m["medicationCodeableConcept"])[0][1]
                for m in of_type(record, "MedicationRequest")
            }
            assert not drugs & PENICILLINS


def test_notes_are_readable_text_documents_of_an_encounter(resources: list[Any]) -> None:
    kinds: Counter[str] = Counter()
    for note in of_type(resources, "DocumentReference"):
        assert note["status"] == "current"
        ((system, code),) = codings(note["type"])
        assert system == LOINC
        kinds[code] += 1
        attachment = note["content"][0]["attachment"]
        assert attachment["contentType"] == "text/plain"
        text = base64.b64decode(attachment["data"], validate=True).decode("utf-8")
        assert attachment["size"] == len(text.encode("utf-8"))
        assert attachment["title"] and len(text.splitlines()) >= 3
        assert note["context"]["encounter"][0]["reference"].startswith("Encounter/")
        assert note["author"][0]["reference"].startswith("Practitioner/")
    assert {"11506-3", "18842-5"} <= set(kinds)


def test_notes_quote_the_charted_observations(records: list[list[Any]]) -> None:
    quoted = 0
    for record in records:
        rates = {
            o["valueQuantity"]["value"]
            for o in of_type(record, "Observation")
            if codings(o["code"])[0] == (LOINC, "8867-4")
        }
        for note in of_type(record, "DocumentReference"):
            text = base64.b64decode(note["content"][0]["attachment"]["data"]).decode()
            for line in text.splitlines():
                if line.startswith("Observations:"):
                    rate = int(line.split("HR ")[1].split(",")[0])
                    assert rate in rates
                    quoted += 1
    assert quoted > 0


def test_each_patient_has_one_or_two_booked_appointments_ahead(
    records: list[list[Any]], now: Any
) -> None:
    for record in records:
        appointments = of_type(record, "Appointment")
        assert 1 <= len(appointments) <= 2
        patient = f"Patient/{record[0]['id']}"
        for appointment in appointments:
            assert appointment["status"] == "booked"
            start, end = moment(appointment["start"]), moment(appointment["end"])
            assert now < start < end
            actors = [p["actor"]["reference"] for p in appointment["participant"]]
            assert patient in actors
            assert any(a.startswith("Practitioner/") for a in actors)
            assert all(p["status"] == "accepted" for p in appointment["participant"])


def test_nothing_but_appointments_lies_in_the_future(resources: list[Any], now: Any) -> None:
    for resource in resources:
        if resource["resourceType"] == "Appointment":
            continue
        for key in (
            "effectiveDateTime",
            "issued",
            "authoredOn",
            "recordedDate",
            "date",
            "onsetDateTime",
        ):
            if key in resource:
                assert moment(resource[key]) <= now, (resource["resourceType"], key)


def test_every_admission_reason_is_a_recorded_condition(records: list[list[Any]]) -> None:
    for record in records:
        conditions = of_type(record, "Condition")
        for encounter in of_type(record, "Encounter"):
            if encounter["class"]["code"] != "IMP":
                continue
            reason = codings(encounter["reasonCode"][0])[0]
            ref = f"Encounter/{encounter['id']}"
            assert any(
                codings(c["code"])[0] == reason
                and (
                    c.get("encounter", {}).get("reference") == ref
                    or "encounter" not in c
                    or codings(c["clinicalStatus"])[0][1] == "active"
                )
                for c in conditions
            ), reason


def test_nothing_happens_before_birth(many_records: list[list[Any]]) -> None:
    keys = (
        "effectiveDateTime",
        "issued",
        "authoredOn",
        "recordedDate",
        "date",
        "onsetDateTime",
        "created",
    )
    for record in many_records:
        born = record[0]["birthDate"]
        for resource in record[1:]:
            for key in keys:
                if key in resource:
                    assert resource[key][:10] >= born, (resource["resourceType"], key)
            if resource["resourceType"] == "Encounter":
                assert resource["period"]["start"][:10] >= born
