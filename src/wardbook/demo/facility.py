"""The shared world every demo patient refers to: the hospital, its wards and its staff.

``build_facility(seed)`` returns both the FHIR resources (Organization, Location,
Practitioner, PractitionerRole; R4 administration module) and a typed index the patient
generator uses to pick a ward nurse or the consultant of a specialty.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from wardbook.demo import terminology as ts
from wardbook.demo.elements import Resource, coding, concept, reference
from wardbook.demo.ids import IdFactory, seeded_random
from wardbook.demo.people import PersonName, email, random_name

HOSPITAL_NAME = "Wardbook General Hospital"
STAFF_DOMAIN = "wardbook.example.org"
HOSPITAL_ADDRESS: Resource = {
    "use": "work",
    "type": "both",
    "line": ["1 Infirmary Road"],
    "city": "Leeds",
    "district": "West Yorkshire",
    "postalCode": "LS1 9ZZ",
    "country": "GB",
}

# specialty key -> SNOMED CT specialty code and display.
SPECIALTIES: dict[str, tuple[str, str]] = {
    "acute_medicine": ("394802001", "General medicine"),
    "surgery": ("394609007", "General surgery"),
    "respiratory": ("418112009", "Pulmonary medicine"),
    "cardiology": ("394579002", "Cardiology"),
    "elderly_care": ("394811001", "Geriatric medicine"),
    "paediatrics": ("394537008", "Pediatric specialty"),
    "emergency": ("773568002", "Emergency medicine"),
    "general_practice": ("394814009", "General practice"),
}


@dataclass(frozen=True, slots=True)
class WardSpec:
    """A place patients are seen: key, name, RoleCode type and owning specialty."""

    key: str
    code: str
    name: str
    role_code: tuple[str, str]
    physical_type: tuple[str, str]
    specialty: str
    extension: str


WARDS: tuple[WardSpec, ...] = (
    WardSpec(
        "ed",
        "ED",
        "Emergency Department",
        ("ER", "Emergency room"),
        ("wi", "Wing"),
        "emergency",
        "4000",
    ),
    WardSpec(
        "opd",
        "OPD",
        "Outpatients Department",
        ("OF", "Outpatient facility"),
        ("wi", "Wing"),
        "acute_medicine",
        "4100",
    ),
    WardSpec(
        "ward7",
        "W7",
        "Ward 7 \N{EN DASH} Acute Medicine",
        ("HU", "Hospital unit"),
        ("wa", "Ward"),
        "acute_medicine",
        "4207",
    ),
    WardSpec(
        "ward3",
        "W3",
        "Ward 3 \N{EN DASH} Surgery",
        ("HU", "Hospital unit"),
        ("wa", "Ward"),
        "surgery",
        "4203",
    ),
    WardSpec(
        "ward9",
        "W9",
        "Ward 9 \N{EN DASH} Respiratory",
        ("HU", "Hospital unit"),
        ("wa", "Ward"),
        "respiratory",
        "4209",
    ),
    WardSpec(
        "ward5",
        "W5",
        "Ward 5 \N{EN DASH} Cardiology",
        ("HU", "Hospital unit"),
        ("wa", "Ward"),
        "cardiology",
        "4205",
    ),
    WardSpec(
        "ward12",
        "W12",
        "Ward 12 \N{EN DASH} Care of the Elderly",
        ("HU", "Hospital unit"),
        ("wa", "Ward"),
        "elderly_care",
        "4212",
    ),
    WardSpec(
        "ward1",
        "W1",
        "Ward 1 \N{EN DASH} Children's Ward",
        ("PEDU", "Pediatric unit"),
        ("wa", "Ward"),
        "paediatrics",
        "4201",
    ),
)

# (job title, profession, specialty, home place key or GP practice key)
_STAFF_PLAN: tuple[tuple[str, str, str, str], ...] = (
    ("Consultant in Acute Medicine", "doctor", "acute_medicine", "ward7"),
    ("Specialty Registrar in Acute Medicine", "doctor", "acute_medicine", "ward7"),
    ("Consultant Surgeon", "doctor", "surgery", "ward3"),
    ("Consultant Respiratory Physician", "doctor", "respiratory", "ward9"),
    ("Consultant Cardiologist", "doctor", "cardiology", "ward5"),
    ("Consultant Geriatrician", "doctor", "elderly_care", "ward12"),
    ("Consultant Paediatrician", "doctor", "paediatrics", "ward1"),
    ("Consultant in Emergency Medicine", "doctor", "emergency", "ed"),
    ("Foundation Doctor", "doctor", "emergency", "ed"),
    ("Ward Sister", "nurse", "acute_medicine", "ward7"),
    ("Charge Nurse", "nurse", "surgery", "ward3"),
    ("Staff Nurse", "nurse", "respiratory", "ward9"),
    ("Staff Nurse", "nurse", "cardiology", "ward5"),
    ("Ward Sister", "nurse", "elderly_care", "ward12"),
    ("Children's Nurse", "nurse", "paediatrics", "ward1"),
    ("Emergency Nurse Practitioner", "nurse", "emergency", "ed"),
    ("Outpatient Nurse", "nurse", "acute_medicine", "opd"),
    ("General Practitioner", "doctor", "general_practice", "gp_chapel_lane"),
    ("General Practitioner", "doctor", "general_practice", "gp_park_view"),
)

_GP_PRACTICES: tuple[tuple[str, str, str, str], ...] = (
    ("gp_chapel_lane", "Chapel Lane Medical Centre", "12 Chapel Lane", "LS6 3BW"),
    ("gp_park_view", "Park View Surgery", "40 Roundhay Road", "LS8 5AJ"),
)


@dataclass(frozen=True, slots=True)
class StaffMember:
    """A practitioner the patient generator can put on a record."""

    id: str
    role_id: str
    name: PersonName
    title: str
    profession: str  # doctor | nurse
    specialty: str
    base: str  # ward key, or GP practice key

    @property
    def display(self) -> str:
        prefix = "Dr " if self.profession == "doctor" else ""
        return f"{prefix}{self.name.text}"


@dataclass(slots=True)
class Facility:
    """The shared resources plus indexes into them."""

    organization_id: str
    ward_ids: dict[str, str] = field(default_factory=dict)
    gp_practice_ids: dict[str, str] = field(default_factory=dict)
    staff: list[StaffMember] = field(default_factory=list)
    resources: list[Resource] = field(default_factory=list)

    def ward(self, key: str) -> WardSpec:
        """The ward (or department) called ``key``."""
        return next(w for w in WARDS if w.key == key)

    def location_ref(self, key: str) -> Resource:
        """A reference to the Location called ``key``."""
        return reference("Location", self.ward_ids[key], self.ward(key).name)

    def organization_ref(self) -> Resource:
        """A reference to the hospital."""
        return reference("Organization", self.organization_id, HOSPITAL_NAME)

    def members(
        self, *, profession: str, specialty: str | None = None, base: str | None = None
    ) -> list[StaffMember]:
        """Staff of a profession, optionally narrowed to a specialty or a ward."""
        return [
            s
            for s in self.staff
            if s.profession == profession
            and (specialty is None or s.specialty == specialty)
            and (base is None or s.base == base)
        ]

    def consultant(self, specialty: str) -> StaffMember:
        """The lead doctor of a specialty (the first one listed)."""
        return self.members(profession="doctor", specialty=specialty)[0]

    def nurse(self, ward_key: str) -> StaffMember:
        """The nurse based on a ward."""
        return self.members(profession="nurse", base=ward_key)[0]

    def gps(self) -> list[StaffMember]:
        """The general practitioners."""
        return self.members(profession="doctor", specialty="general_practice")


def build_facility(seed: int) -> Facility:
    """The hospital, GP practices, wards and staff for ``seed`` (names vary with the seed)."""
    rng = seeded_random(seed, "facility")
    ids = IdFactory(seed, "facility")
    facility = Facility(organization_id=ids.key("organization/hospital"))
    facility.resources.append(_hospital(facility.organization_id))
    for key, practice_name, line, postcode in _GP_PRACTICES:
        practice_id = ids.key(f"organization/{key}")
        facility.gp_practice_ids[key] = practice_id
        facility.resources.append(_gp_practice(practice_id, key, practice_name, line, postcode))
    site_id = ids.key("location/site")
    facility.resources.append(_site(site_id, facility))
    for ward in WARDS:
        ward_id = ids.key(f"location/{ward.key}")
        facility.ward_ids[ward.key] = ward_id
        facility.resources.append(_ward(ward_id, ward, site_id, facility))
    used: set[str] = set()
    for number, (title, profession, specialty, base) in enumerate(_STAFF_PLAN, start=1):
        gender = rng.choice(("female", "male"))
        name = random_name(rng, gender)
        while name.text in used:
            name = random_name(rng, gender)
        used.add(name.text)
        member = StaffMember(
            id=ids.key(f"practitioner/{number}"),
            role_id=ids.key(f"practitioner-role/{number}"),
            name=name,
            title="Charge Nurse" if title == "Ward Sister" and gender == "male" else title,
            profession=profession,
            specialty=specialty,
            base=base,
        )
        facility.staff.append(member)
        facility.resources.append(_practitioner(member, gender, number, rng))
    facility.resources.extend(_practitioner_role(m, facility) for m in facility.staff)
    return facility


def _hospital(org_id: str) -> Resource:
    return {
        "resourceType": "Organization",
        "id": org_id,
        "identifier": [{"use": "official", "system": ts.ORGANIZATION_SYSTEM, "value": "WGH"}],
        "active": True,
        "type": [concept(ts.ORGANIZATION_TYPE, "prov", "Healthcare Provider")],
        "name": HOSPITAL_NAME,
        "alias": ["WGH"],
        "telecom": [
            {"system": "phone", "value": "0113 496 0000", "use": "work"},
            {"system": "url", "value": "https://wardbook.example.org", "use": "work"},
        ],
        "address": [dict(HOSPITAL_ADDRESS, line=list(HOSPITAL_ADDRESS["line"]))],
    }


def _gp_practice(org_id: str, key: str, name: str, line: str, postcode: str) -> Resource:
    return {
        "resourceType": "Organization",
        "id": org_id,
        "identifier": [{"use": "official", "system": ts.ORGANIZATION_SYSTEM, "value": key.upper()}],
        "active": True,
        "type": [concept(ts.ORGANIZATION_TYPE, "prov", "Healthcare Provider")],
        "name": name,
        "telecom": [{"system": "phone", "value": f"0113 496 0{len(name):03d}", "use": "work"}],
        "address": [
            {
                "use": "work",
                "type": "both",
                "line": [line],
                "city": "Leeds",
                "district": "West Yorkshire",
                "postalCode": postcode,
                "country": "GB",
            }
        ],
    }


def _site(site_id: str, facility: Facility) -> Resource:
    return {
        "resourceType": "Location",
        "id": site_id,
        "identifier": [{"system": ts.LOCATION_SYSTEM, "value": "WGH"}],
        "status": "active",
        "name": f"{HOSPITAL_NAME} \N{EN DASH} Main Building",
        "mode": "instance",
        "type": [concept(ts.ROLE_CODE, "HOSP", "Hospital")],
        "physicalType": concept(ts.LOCATION_PHYSICAL_TYPE, "bu", "Building"),
        "address": dict(HOSPITAL_ADDRESS, line=list(HOSPITAL_ADDRESS["line"])),
        "managingOrganization": facility.organization_ref(),
    }


def _ward(ward_id: str, ward: WardSpec, site_id: str, facility: Facility) -> Resource:
    return {
        "resourceType": "Location",
        "id": ward_id,
        "identifier": [{"system": ts.LOCATION_SYSTEM, "value": ward.code}],
        "status": "active",
        "name": ward.name,
        "mode": "instance",
        "type": [concept(ts.ROLE_CODE, *ward.role_code)],
        "telecom": [{"system": "phone", "value": f"0113 496 {ward.extension}", "use": "work"}],
        "physicalType": concept(ts.LOCATION_PHYSICAL_TYPE, *ward.physical_type),
        "managingOrganization": facility.organization_ref(),
        "partOf": reference("Location", site_id, f"{HOSPITAL_NAME} \N{EN DASH} Main Building"),
    }


def _practitioner(member: StaffMember, gender: str, number: int, rng: random.Random) -> Resource:
    identifiers: list[Resource] = [
        {"use": "usual", "system": ts.STAFF_SYSTEM, "value": f"WGH{number:05d}"}
    ]
    if member.profession == "doctor":
        identifiers.append(
            {"use": "official", "system": ts.GMC_SYSTEM, "value": f"{rng.randrange(10**7):07d}"}
        )
    else:
        pin = f"{rng.randint(0, 99):02d}{rng.choice('ABCDEFGHIJ')}{rng.randrange(10**4):04d}"
        identifiers.append(
            {"use": "official", "system": ts.NMC_SYSTEM, "value": pin + rng.choice("EOW")}
        )
    name: Resource = {
        "use": "official",
        "family": member.name.family,
        "given": list(member.name.given),
    }
    if member.profession == "doctor":
        name["prefix"] = ["Dr"]
    return {
        "resourceType": "Practitioner",
        "id": member.id,
        "identifier": identifiers,
        "active": True,
        "name": [name],
        "telecom": [{"system": "email", "value": email(member.name, STAFF_DOMAIN), "use": "work"}],
        "gender": gender,
    }


def _practitioner_role(member: StaffMember, facility: Facility) -> Resource:
    profession = ("doctor", "Doctor") if member.profession == "doctor" else ("nurse", "Nurse")
    specialty_code, specialty_display = SPECIALTIES[member.specialty]
    role: Resource = {
        "resourceType": "PractitionerRole",
        "id": member.role_id,
        "active": True,
        "practitioner": reference("Practitioner", member.id, member.display),
        "code": [{"coding": [coding(ts.PRACTITIONER_ROLE, *profession)], "text": member.title}],
        "specialty": [concept(ts.SNOMED, specialty_code, specialty_display)],
    }
    if member.base in facility.gp_practice_ids:
        practice_name = next(n for k, n, _, _ in _GP_PRACTICES if k == member.base)
        role["organization"] = reference(
            "Organization", facility.gp_practice_ids[member.base], practice_name
        )
    else:
        role["organization"] = facility.organization_ref()
        role["location"] = [facility.location_ref(member.base)]
    return role
