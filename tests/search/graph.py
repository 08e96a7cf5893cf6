"""A generated, densely linked clinical graph for chains, ``_has``, includes and sorts.

Organizations (with ``partOf``), practitioners, patients (general practitioner, managing
organization, ``link`` to other patients), locations, encounters, observations and Lists,
with a few references to resources that do not exist and many missing values. Seeded, so
every run sees the same data; the queries come from :data:`TERMS`, :data:`SORTS` and
:data:`INCLUDES`, whose combinations the property tests draw.
"""

from __future__ import annotations

import random
from typing import Any

WORDS = ["Ada", "ada", "Åsa", "Bo", "Cy", "Zoë", "zoe"]
GENDERS = ["male", "female", "other", None]
CODES = ["c1", "c2", "c3"]
CLASSES = ["AMB", "IMP", "EMER"]
DATES = [None, "1950", "1970-05", "1970-05-03", "2001-02-03T04:05:06Z", "2020-01-01"]


def _maybe(rng: random.Random, value: Any, p: float = 0.7) -> Any:
    return value if rng.random() < p else None


def _ref(kind: str, n: int, rng: random.Random, dangling: float = 0.05) -> dict[str, str]:
    if rng.random() < dangling:
        return {"reference": f"{kind}/missing-{rng.randint(0, 3)}"}
    return {"reference": f"{kind}/{kind[:2].lower()}{rng.randrange(n)}"}


def _put(resource: dict[str, Any], key: str, value: Any) -> None:
    if value is not None:
        resource[key] = value


def clinical_graph(seed: int = 11) -> list[dict[str, Any]]:
    """About 200 resources of 8 types, linked every way the queries follow."""
    rng = random.Random(seed)
    out: list[dict[str, Any]] = []
    n_org, n_pr, n_pa, n_lo, n_en, n_ob = 8, 6, 20, 3, 30, 80
    for i in range(n_org):
        org: dict[str, Any] = {"resourceType": "Organization", "id": f"or{i}"}
        _put(org, "name", _maybe(rng, rng.choice(WORDS), 0.85))
        if i and rng.random() < 0.6:
            org["partOf"] = {"reference": f"Organization/or{rng.randrange(i)}"}
        out.append(org)
    for i in range(n_pr):
        pr: dict[str, Any] = {"resourceType": "Practitioner", "id": f"pr{i}"}
        _put(pr, "gender", rng.choice(GENDERS))
        if rng.random() < 0.8:
            pr["name"] = [{"family": rng.choice(WORDS)}]
        out.append(pr)
    for i in range(n_lo):
        out.append({"resourceType": "Location", "id": f"lo{i}", "name": rng.choice(WORDS)})
    for i in range(n_pa):
        pa: dict[str, Any] = {"resourceType": "Patient", "id": f"pa{i}"}
        _put(pa, "gender", rng.choice(GENDERS))
        _put(pa, "birthDate", rng.choice(DATES[:4]))
        if rng.random() < 0.9:
            pa["name"] = [{"family": rng.choice(WORDS), "given": [rng.choice(WORDS)]}]
        if rng.random() < 0.6:
            pa["generalPractitioner"] = [_ref("Practitioner", n_pr, rng)]
        if rng.random() < 0.6:
            pa["managingOrganization"] = _ref("Organization", n_org, rng)
        if rng.random() < 0.2:
            pa["link"] = [{"other": _ref("Patient", n_pa, rng), "type": "seealso"}]
        out.append(pa)
    for i in range(n_en):
        en: dict[str, Any] = {
            "resourceType": "Encounter",
            "id": f"en{i}",
            "status": "finished",
            "class": {
                "system": "http://terminology.hl7.org/CodeSystem/v3-ActCode",
                "code": rng.choice(CLASSES),
            },
            "subject": _ref("Patient", n_pa, rng),
        }
        start = rng.choice(DATES)
        if start is not None:
            en["period"] = {"start": start}
        if rng.random() < 0.7:
            en["serviceProvider"] = _ref("Organization", n_org, rng)
        if rng.random() < 0.7:
            en["participant"] = [{"individual": _ref("Practitioner", n_pr, rng)}]
        out.append(en)
    for i in range(n_ob):
        ob: dict[str, Any] = {"resourceType": "Observation", "id": f"ob{i}", "status": "final"}
        if rng.random() < 0.9:
            ob["code"] = {"coding": [{"system": "http://x", "code": rng.choice(CODES)}]}
        roll = rng.random()
        if roll < 0.8:
            ob["subject"] = _ref("Patient", n_pa, rng)
        elif roll < 0.9:
            ob["subject"] = _ref("Location", n_lo, rng)
        if rng.random() < 0.7:
            ob["encounter"] = _ref("Encounter", n_en, rng)
        if rng.random() < 0.5:
            kind = rng.choice(["Practitioner", "Organization"])
            ob["performer"] = [_ref(kind, n_pr if kind == "Practitioner" else n_org, rng)]
        _put(ob, "effectiveDateTime", rng.choice(DATES))
        if rng.random() < 0.6:
            unit, scale = rng.choice([("mg", 1000.0), ("g", 1.0), ("kg", 0.001)])
            ob["valueQuantity"] = {
                "value": round(rng.uniform(0, 5) * scale, 3),
                "system": "http://unitsofmeasure.org",
                "code": unit,
            }
        out.append(ob)
    members = [r for r in out if r["resourceType"] in ("Patient", "Observation", "Encounter")]
    for i in range(3):
        items = rng.sample(members, 6)
        out.append(
            {
                "resourceType": "List",
                "id": f"li{i}",
                "status": "current",
                "mode": "working",
                "entry": [{"item": {"reference": f"{r['resourceType']}/{r['id']}"}} for r in items],
            }
        )
    return out


TERMS: dict[str, list[str]] = {
    "Observation": [
        "code=c1",
        "code=c2,c3",
        "subject:Patient.gender=male",
        "patient.gender=female,other",
        "subject.name=ada",
        "subject:Patient.general-practitioner:Practitioner.gender=female",
        "subject:Patient.organization.name=zoe",
        "subject:Patient.organization.partof.name=ada",
        "encounter.class=IMP",
        "encounter:Encounter.subject:Patient.family=bo",
        "encounter.service-provider.name:exact=Zoë",
        "performer:Organization.name=a",
        "performer:Practitioner._has:Patient:general-practitioner:gender=male",
        "subject:Patient.link:Patient.gender=male,female",
        "subject:Patient._id=pa1,pa2,pa3",
        "value-quantity=gt1|http://unitsofmeasure.org|g",
        "date=ge1970",
        "_list=li0,li1",
    ],
    "Patient": [
        "gender=male",
        "_has:Observation:patient:code=c1",
        "_has:Observation:subject:code=c2",
        "_has:Encounter:patient:class=AMB",
        "_has:Encounter:patient:_has:Observation:encounter:code=c3",
        "_has:Encounter:subject:service-provider.name=ada",
        "general-practitioner:Practitioner.name=bo",
        "organization.partof:missing=false",
        "organization.partof.partof:missing=true",
        "link:Patient._has:Observation:patient:code=c2",
        "birthdate=1970",
        "_list=li2",
    ],
    "Encounter": [
        "class=AMB,EMER",
        "patient.gender=male",
        "_has:Observation:encounter:subject.name=zoe",
        "participant:Practitioner.gender=female",
        "service-provider._has:Patient:organization:gender=female",
        "date=lt2001",
    ],
    "Organization": [
        "name=a",
        "_has:Patient:organization:_has:Observation:patient:code=c1",
        "partof.name=ada",
        "_has:Organization:partof:name=a",
    ],
}

SORTS: dict[str, list[str]] = {
    "Observation": [
        "code",
        "-code",
        "date",
        "-date",
        "value-quantity",
        "-value-quantity",
        "subject",
        "-subject,code",
        "encounter,-_id",
        "_lastUpdated",
    ],
    "Patient": [
        "family",
        "-family",
        "birthdate,-gender",
        "-birthdate",
        "gender,family,_id",
        "organization",
        "-general-practitioner",
    ],
    "Encounter": ["date", "-date", "class,-date", "service-provider", "-_id"],
    "Organization": ["name", "-name", "partof"],
}

INCLUDES: dict[str, list[str]] = {
    "Observation": [
        "_include=Observation:subject",
        "_include=Observation:subject:Patient",
        "_include=Observation:encounter",
        "_include=Observation:performer",
        "_include=*",
        "_include:iterate=Patient:organization",
        "_include:iterate=Encounter:service-provider",
        "_include:iterate=Organization:partof",
        "_revinclude=List:item",
        "_revinclude:iterate=Encounter:patient",
    ],
    "Patient": [
        "_include=Patient:general-practitioner",
        "_include=Patient:organization",
        "_include:iterate=Organization:partof",
        "_revinclude=Observation:subject",
        "_revinclude=Encounter:patient",
        "_revinclude:iterate=Observation:encounter",
        "_revinclude=*",
        "_include=Patient:link",
        "_include:iterate=Patient:link",
    ],
    "Encounter": [
        "_include=Encounter:patient",
        "_include=Encounter:*",
        "_revinclude=Observation:encounter",
        "_include:iterate=Observation:performer",
        "_include:iterate=Patient:general-practitioner",
    ],
    "Organization": [
        "_include=Organization:partof",
        "_include:iterate=Organization:partof",
        "_revinclude=Patient:organization",
        "_revinclude:iterate=Organization:partof",
    ],
}
