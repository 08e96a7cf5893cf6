"""Vital signs follow the FHIR vital-signs profile in UCUM; lab results carry reference
ranges whose H/L/N flags agree with the values; some patients deteriorate."""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Any

from .helpers import codings, moment, news2, of_type

LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
INTERPRETATION = "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation"

VITAL_UNITS = {
    "8867-4": "/min",
    "9279-1": "/min",
    "59408-5": "%",
    "8310-5": "Cel",
    "29463-7": "kg",
    "8302-2": "cm",
    "39156-5": "kg/m2",
    "8480-6": "mm[Hg]",
    "8462-4": "mm[Hg]",
    "3151-8": "L/min",
    "3150-0": "%",
}
PLAUSIBLE = {
    "8867-4": (35, 190),
    "9279-1": (6, 60),
    "59408-5": (70, 100),
    "8310-5": (34.5, 41.5),
    "8480-6": (60, 230),
    "8462-4": (30, 130),
    "3151-8": (0, 15),
    "29463-7": (2, 250),
    "8302-2": (45, 210),
    "39156-5": (10, 60),
}


def _category(observation: Any) -> str:
    return str(observation["category"][0]["coding"][0]["code"])


def _vitals(resources: list[Any]) -> list[Any]:
    return [o for o in of_type(resources, "Observation") if _category(o) == "vital-signs"]


def _labs(resources: list[Any]) -> list[Any]:
    return [o for o in of_type(resources, "Observation") if _category(o) == "laboratory"]


def _loinc(observation: Any) -> str:
    return next(code for system, code in codings(observation["code"]) if system == LOINC)


def test_categories_come_from_the_observation_category_system(resources: list[Any]) -> None:
    for observation in of_type(resources, "Observation"):
        assert codings(observation["category"][0])[0] in {
            (CATEGORY, "vital-signs"),
            (CATEGORY, "laboratory"),
        }
        assert observation["status"] == "final"
        assert observation["subject"]["reference"].startswith("Patient/")
        assert observation["encounter"]["reference"].startswith("Encounter/")


def test_vital_sign_quantities_are_ucum_with_the_profile_units(resources: list[Any]) -> None:
    seen: Counter[str] = Counter()
    for observation in _vitals(resources):
        code = _loinc(observation)
        parts = [(code, observation.get("valueQuantity"))]
        parts += [(_loinc(c), c["valueQuantity"]) for c in observation.get("component", [])]
        for part_code, quantity in parts:
            if quantity is None:
                continue
            assert quantity["system"] == UCUM
            assert quantity["code"] == VITAL_UNITS[part_code], part_code
            low, high = PLAUSIBLE.get(part_code, (0, 100))
            assert low <= quantity["value"] <= high, (part_code, quantity)
            seen[part_code] += 1
    assert set(seen) == set(VITAL_UNITS)


def test_blood_pressure_is_a_panel_of_systolic_and_diastolic(resources: list[Any]) -> None:
    panels = [o for o in _vitals(resources) if _loinc(o) == "85354-9"]
    assert panels
    for panel in panels:
        assert "valueQuantity" not in panel
        parts = {_loinc(c): c["valueQuantity"]["value"] for c in panel["component"]}
        assert set(parts) == {"8480-6", "8462-4"}
        assert parts["8480-6"] > parts["8462-4"]


def test_consciousness_is_acvpu_coded_in_snomed(resources: list[Any]) -> None:
    answers: Counter[str] = Counter()
    for observation in _vitals(resources):
        if _loinc(observation) == "67775-7":
            system, code = codings(observation["valueCodeableConcept"])[0]
            assert system == "http://snomed.info/sct"
            answers[code] += 1
    assert answers["248234008"] > 0  # alert
    assert answers["130987000"] > 0  # new confusion
    assert set(answers) <= {"248234008", "130987000", "300202002", "450847001", "422768004"}


def test_oxygen_flow_agrees_with_the_spo2_components(resources: list[Any]) -> None:
    flows = {}
    for o in _vitals(resources):
        if _loinc(o) == "3151-8":
            flows[(o["encounter"]["reference"], o["effectiveDateTime"])] = o["valueQuantity"][
                "value"
            ]
    on_oxygen = 0
    for o in _vitals(resources):
        if _loinc(o) == "59408-5":
            flow = flows[(o["encounter"]["reference"], o["effectiveDateTime"])]
            components = {_loinc(c): c["valueQuantity"]["value"] for c in o.get("component", [])}
            assert components.get("3151-8", 0) == flow
            on_oxygen += flow > 0
    assert on_oxygen > 0


def test_bmi_matches_weight_and_height(resources: list[Any]) -> None:
    by_time: dict[tuple[str, str], dict[str, float]] = defaultdict(dict)
    for o in _vitals(resources):
        if _loinc(o) in ("29463-7", "8302-2", "39156-5"):
            key = (o["encounter"]["reference"], o["effectiveDateTime"])
            by_time[key][_loinc(o)] = o["valueQuantity"]["value"]
    assert by_time
    for values in by_time.values():
        bmi = values["29463-7"] / (values["8302-2"] / 100) ** 2
        assert abs(bmi - values["39156-5"]) < 0.1


def test_lab_flags_agree_with_value_and_reference_range(resources: list[Any]) -> None:
    flags: Counter[str] = Counter()
    for lab in _labs(resources):
        value = lab["valueQuantity"]
        assert value["system"] == UCUM
        (reference_range,) = lab["referenceRange"]
        low = reference_range.get("low", {}).get("value")
        high = reference_range.get("high", {}).get("value")
        assert low is not None or high is not None
        for limit in ("low", "high"):
            if limit in reference_range:
                assert reference_range[limit]["code"] == value["code"]
        expected = (
            "H"
            if high is not None and value["value"] > high
            else ("L" if low is not None and value["value"] < low else "N")
        )
        ((system, flag),) = codings(lab["interpretation"][0])
        assert system == INTERPRETATION
        assert flag == expected, (lab["code"]["text"], value["value"], low, high)
        assert moment(lab["issued"]) >= moment(lab["effectiveDateTime"])
        flags[flag] += 1
    assert flags["N"] > flags["H"] > 0 and flags["L"] > 0


def test_labs_use_the_intended_loinc_codes_and_units(resources: list[Any]) -> None:
    expected = {
        "718-7": "g/dL",
        "6690-2": "10*3/uL",
        "777-3": "10*3/uL",
        "2951-2": "mmol/L",
        "2823-3": "mmol/L",
        "3094-0": "mg/dL",
        "2160-0": "mg/dL",
        "2345-7": "mg/dL",
        "1988-5": "mg/L",
        "4548-4": "%",
        "2524-7": "mmol/L",
    }
    seen = {_loinc(lab): lab["valueQuantity"]["code"] for lab in _labs(resources)}
    assert seen == expected


def _news2_sets(resources: list[Any]) -> dict[tuple[str, str], int]:
    """NEWS2 for every complete set of observations, keyed by (encounter, time)."""
    sets: dict[tuple[str, str], dict[str, Any]] = defaultdict(dict)
    for o in _vitals(resources):
        key = (o["encounter"]["reference"], o["effectiveDateTime"])
        code = _loinc(o)
        if code == "85354-9":
            sets[key]["sbp"] = next(
                c["valueQuantity"]["value"] for c in o["component"] if _loinc(c) == "8480-6"
            )
        elif code == "67775-7":
            letter = {"248234008": "A"}.get(o["valueCodeableConcept"]["coding"][0]["code"], "C")
            sets[key]["acvpu"] = letter
        elif "valueQuantity" in o:
            sets[key][code] = o["valueQuantity"]["value"]
    scores = {}
    for key, s in sets.items():
        if {"9279-1", "59408-5", "3151-8", "8310-5", "sbp", "8867-4", "acvpu"} <= s.keys():
            scores[key] = news2(
                s["9279-1"],
                s["59408-5"],
                s["3151-8"] > 0,
                s["8310-5"],
                s["sbp"],
                s["8867-4"],
                s["acvpu"],
            )
    return scores


def test_most_observation_sets_are_low_risk_but_some_patients_deteriorate(
    resources: list[Any],
) -> None:
    scores = _news2_sets(resources)
    assert len(scores) > 200
    low = sum(1 for s in scores.values() if s <= 4)
    assert low / len(scores) > 0.5
    current = {e["id"] for e in of_type(resources, "Encounter") if e["status"] == "in-progress"}
    latest: dict[str, tuple[str, int]] = {}
    for (encounter, when), score in scores.items():
        encounter_id = encounter.split("/")[1]
        if encounter_id in current and when > latest.get(encounter_id, ("", 0))[0]:
            latest[encounter_id] = (when, score)
    high_now = [score for _, score in latest.values() if score >= 7]
    assert high_now, "expected at least one deteriorating inpatient (NEWS2 >= 7 now)"
    assert len(high_now) < len(latest)
