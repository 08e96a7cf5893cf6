"""``Location?near``, token ``:of-type`` and ``_contained`` over HTTP, on both backends.

R4 search.html#special (Location ``near``), #token (``:of-type``) and #contained. Every
answer is also checked against the in-memory matcher in tests/search; here the HTTP
contract: the right ids, and a 400 OperationOutcome for what the server cannot answer.
"""

from __future__ import annotations

import math
import random
from typing import Any

import httpx
import pytest

pytestmark = pytest.mark.anyio

V2_0203 = "http://terminology.hl7.org/CodeSystem/v2-0203"
STRICT = {"Prefer": "handling=strict"}

# Great-circle distances from Big Ben (51.50073, -0.12463): the London Eye is about
# 0.45 km away, St Paul's 2.3 km, Heathrow 23 km, Oxford 83 km, Paris 341 km.
BIG_BEN = (51.50073, -0.12463)
PLACES = {
    "london-eye": (51.50329, -0.11953),
    "st-pauls": (51.51381, -0.09837),
    "heathrow": (51.47002, -0.45429),
    "oxford": (51.75202, -1.25773),
    "paris": (48.85837, 2.29448),
}


async def _put(client: httpx.AsyncClient, body: dict[str, Any]) -> None:
    response = await client.put(f"/{body['resourceType']}/{body['id']}", json=body)
    assert response.status_code in (200, 201), response.text


def _ids(response: httpx.Response) -> set[str]:
    assert response.status_code == 200, response.text
    return {e["resource"]["id"] for e in response.json().get("entry", [])}


def _outcome(response: httpx.Response) -> str:
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["resourceType"] == "OperationOutcome"
    return " ".join(i.get("diagnostics", "") for i in body["issue"])


@pytest.fixture
async def places(client: httpx.AsyncClient) -> httpx.AsyncClient:
    for name, (lat, lon) in PLACES.items():
        await _put(
            client,
            {
                "resourceType": "Location",
                "id": name,
                "name": name,
                "position": {"latitude": lat, "longitude": lon},
            },
        )
    await _put(client, {"resourceType": "Location", "id": "nowhere", "name": "no position"})
    return client


@pytest.mark.parametrize(
    ("distance", "expected"),
    [
        ("1|km", {"london-eye"}),
        ("3|km", {"london-eye", "st-pauls"}),
        ("3000|m", {"london-eye", "st-pauls"}),
        ("30|km", {"london-eye", "st-pauls", "heathrow"}),
        ("60|[mi_i]", {"london-eye", "st-pauls", "heathrow", "oxford"}),  # 96.6 km
        ("400", {"london-eye", "st-pauls", "heathrow", "oxford", "paris"}),  # km by default
        ("0.1|km", set()),
    ],
)
async def test_near_finds_locations_within_the_distance(
    places: httpx.AsyncClient, distance: str, expected: set[str]
) -> None:
    lat, lon = BIG_BEN
    response = await places.get("/Location", params={"near": f"{lat}|{lon}|{distance}"})
    assert _ids(response) == expected


async def test_near_combines_with_other_criteria_and_or_values(places: httpx.AsyncClient) -> None:
    paris = PLACES["paris"]
    either = f"{BIG_BEN[0]}|{BIG_BEN[1]}|1|km,{paris[0]}|{paris[1]}|5|km"
    assert _ids(await places.get("/Location", params={"near": either})) == {"london-eye", "paris"}
    both = [("near", f"{BIG_BEN[0]}|{BIG_BEN[1]}|30|km"), ("name", "st")]
    assert _ids(await places.get("/Location", params=both)) == {"st-pauls"}
    # Without a distance the server's default (10 km) applies.
    assert _ids(await places.get("/Location", params={"near": f"{BIG_BEN[0]}|{BIG_BEN[1]}"})) == {
        "london-eye",
        "st-pauls",
    }


async def test_near_across_the_antimeridian(client: httpx.AsyncClient) -> None:
    # Taveuni, Fiji straddles 180°: points 20 km apart on either side of the line.
    await _put(
        client,
        {
            "resourceType": "Location",
            "id": "east",
            "position": {"latitude": -16.8, "longitude": 179.95},
        },
    )
    await _put(
        client,
        {
            "resourceType": "Location",
            "id": "west",
            "position": {"latitude": -16.8, "longitude": -179.9},
        },
    )
    assert _ids(await client.get("/Location", params={"near": "-16.8|179.99|25|km"})) == {
        "east",
        "west",
    }
    assert _ids(await client.get("/Location", params={"near": "-16.8|179.99|5|km"})) == {"east"}


def _ordered(response: httpx.Response) -> list[str]:
    assert response.status_code == 200, response.text
    entries = response.json().get("entry", [])
    return [e["resource"]["id"] for e in entries if e["search"]["mode"] == "match"]


def _distances(response: httpx.Response) -> dict[str, float]:
    out = {}
    for entry in response.json()["entry"]:
        if entry["search"]["mode"] == "outcome":
            continue
        (extension,) = entry["search"]["extension"]
        assert extension["url"] == "http://hl7.org/fhir/StructureDefinition/location-distance"
        distance = extension["valueDistance"]
        assert (distance["unit"], distance["system"], distance["code"]) == (
            "km",
            "http://unitsofmeasure.org",
            "km",
        )
        assert entry["search"]["mode"] == "match"
        out[entry["resource"]["id"]] = distance["value"]
    return out


def _cosine_law_km(a: tuple[float, float], b: tuple[float, float]) -> float:
    (lat1, lon1), (lat2, lon2) = (map(math.radians, p) for p in (a, b))
    cosine = math.sin(lat1) * math.sin(lat2) + math.cos(lat1) * math.cos(lat2) * math.cos(
        lon2 - lon1
    )
    return 6371.0088 * math.acos(cosine)


NEAREST_FIRST = ["london-eye", "st-pauls", "heathrow", "oxford", "paris"]


async def test_near_answers_nearest_first_with_each_distance(places: httpx.AsyncClient) -> None:
    near = f"{BIG_BEN[0]}|{BIG_BEN[1]}|400|km"
    response = await places.get("/Location", params={"near": near})
    assert _ordered(response) == NEAREST_FIRST
    # The order the server chose is in the links, so the next pages keep it.
    self_link = next(x["url"] for x in response.json()["link"] if x["relation"] == "self")
    assert "_sort=near" in self_link
    # Checked with the spherical law of cosines (not the server's haversine), rounded to m.
    assert _distances(response) == pytest.approx(
        {name: _cosine_law_km(BIG_BEN, PLACES[name]) for name in NEAREST_FIRST}, abs=0.0011
    )


async def test_sort_by_distance_descending_and_across_pages(places: httpx.AsyncClient) -> None:
    near = f"{BIG_BEN[0]}|{BIG_BEN[1]}|400|km"
    farthest = await places.get("/Location", params={"near": near, "_sort": "-near"})
    assert _ordered(farthest) == NEAREST_FIRST[::-1]
    seen: list[str] = []
    response = await places.get("/Location", params={"near": near, "_count": "2"})
    while True:
        seen.extend(_ordered(response))
        assert set(_distances(response)) == set(_ordered(response))
        following = [x["url"] for x in response.json()["link"] if x["relation"] == "next"]
        if not following:
            break
        response = await places.get(following[0])
    assert seen == NEAREST_FIRST
    # Another _sort wins; the distance is still reported.
    by_name = await places.get("/Location", params={"near": near, "_sort": "-name"})
    assert _ordered(by_name) == sorted(NEAREST_FIRST, reverse=True)
    assert set(_distances(by_name)) == set(NEAREST_FIRST)


async def test_sort_by_distance_agrees_with_an_independent_formula(
    client: httpx.AsyncClient,
) -> None:
    rng = random.Random(7)
    points = {f"p{n}": (rng.uniform(-60, 60), rng.uniform(-179, 179)) for n in range(40)}
    for name, (lat, lon) in points.items():
        body = {
            "resourceType": "Location",
            "id": name,
            "position": {"latitude": lat, "longitude": lon},
        }
        await _put(client, body)
    origin = (12.5, 100.25)
    params = {"near": f"{origin[0]}|{origin[1]}|30000|km", "_count": "1000"}
    expected = sorted(points, key=lambda n: _cosine_law_km(origin, points[n]))
    assert _ordered(await client.get("/Location", params=params)) == expected
    params["_sort"] = "-near,_id"
    assert _ordered(await client.get("/Location", params=params)) == expected[::-1]


async def test_sort_by_distance_needs_exactly_one_point(places: httpx.AsyncClient) -> None:
    paris = PLACES["paris"]
    two = f"{BIG_BEN[0]}|{BIG_BEN[1]}|1|km,{paris[0]}|{paris[1]}|5|km"
    for params in ({"near": two, "_sort": "near"}, {"name": "st", "_sort": "near"}):
        response = await places.get("/Location", params=params, headers=STRICT)
        assert "needs exactly one near point" in _outcome(response)
    # Lenient: the key is dropped with a warning; two points give no default order.
    response = await places.get("/Location", params={"near": two, "_sort": "near"})
    assert set(_ordered(response)) == {"london-eye", "paris"}
    outcome = response.json()["entry"][-1]
    assert outcome["search"]["mode"] == "outcome"
    assert "needs exactly one near point" in outcome["resource"]["issue"][0]["diagnostics"]
    assert not any("extension" in e["search"] for e in response.json()["entry"])


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        ("51.5", "latitude|longitude"),
        ("north|-0.12|1|km", "latitude must be a decimal"),
        ("91|0|1|km", "between -90 and 90"),
        ("0|181|1|km", "between -180 and 180"),
        ("51.5|-0.12|-2|km", "must not be negative"),
        ("51.5|-0.12|2|kg", "UCUM length"),
        ("51.5|-0.12|2|km|x", "latitude|longitude"),
    ],
)
async def test_malformed_near_is_a_400_operation_outcome(
    client: httpx.AsyncClient, value: str, fragment: str
) -> None:
    response = await client.get("/Location", params={"near": value}, headers=STRICT)
    assert fragment in _outcome(response)


async def test_near_is_advertised_as_a_special_parameter(client: httpx.AsyncClient) -> None:
    statement = (await client.get("/metadata")).json()
    location = next(r for r in statement["rest"][0]["resource"] if r["type"] == "Location")
    near = [p for p in location["searchParam"] if p["name"] == "near"]
    assert near == [
        {
            "name": "near",
            "type": "special",
            "definition": "http://hl7.org/fhir/SearchParameter/Location-near",
        }
    ]


# -- :of-type -------------------------------------------------------------------------------------


def _patient(pid: str, *identifiers: tuple[str | None, str, str]) -> dict[str, Any]:
    out = []
    for type_system, type_code, value in identifiers:
        coding = (
            {"code": type_code}
            if type_system is None
            else {"system": type_system, "code": type_code}
        )
        out.append(
            {"system": f"urn:example:{type_code}", "type": {"coding": [coding]}, "value": value}
        )
    return {"resourceType": "Patient", "id": pid, "identifier": out}


async def test_of_type_matches_the_identifier_type_and_value(client: httpx.AsyncClient) -> None:
    await _put(client, _patient("mr", (V2_0203, "MR", "446053")))
    await _put(client, _patient("ss", (V2_0203, "SS", "446053")))  # same value, other type
    await _put(client, _patient("both", (V2_0203, "MR", "1"), (V2_0203, "DL", "446053")))
    await _put(client, _patient("local", ("http://example.org/types", "MR", "446053")))
    await _put(client, _patient("uncoded", (None, "MR", "446053")))
    search = "/Patient"
    mr = {"identifier:of-type": f"{V2_0203}|MR|446053"}
    assert _ids(await client.get(search, params=mr)) == {"mr"}
    either = {"identifier:of-type": f"{V2_0203}|MR|446053,{V2_0203}|DL|446053"}
    assert _ids(await client.get(search, params=either)) == {"mr", "both"}
    # The value must belong to the identifier of that type, not to another one.
    assert _ids(await client.get(search, params={"identifier:of-type": f"{V2_0203}|MR|x"})) == set()
    assert _ids(await client.get(search, params={"identifier:of-type": f"{V2_0203}|DL|1"})) == set()


async def test_of_type_escapes_bars_in_the_value(client: httpx.AsyncClient) -> None:
    await _put(client, _patient("bar", (V2_0203, "MR", "a|b")))
    await _put(client, _patient("plain", (V2_0203, "MR", "a")))
    response = await client.get("/Patient", params={"identifier:of-type": f"{V2_0203}|MR|a\\|b"})
    assert _ids(response) == {"bar"}


@pytest.mark.parametrize(
    ("resource_type", "name", "value", "fragment"),
    [
        ("Patient", "identifier:of-type", "MR|446053", "system|code|value"),
        ("Patient", "identifier:of-type", f"{V2_0203}||446053", "system|code|value"),
        ("Observation", "code:of-type", f"{V2_0203}|MR|1", "Identifier parameters only"),
    ],
)
async def test_bad_of_type_is_a_400(
    client: httpx.AsyncClient, resource_type: str, name: str, value: str, fragment: str
) -> None:
    response = await client.get(f"/{resource_type}", params={name: value}, headers=STRICT)
    assert fragment in _outcome(response)


# -- _contained -----------------------------------------------------------------------------------


async def test_contained_false_is_the_default_and_searches_containers(
    client: httpx.AsyncClient,
) -> None:
    await _put(
        client,
        {
            "resourceType": "MedicationRequest",
            "id": "mr1",
            "status": "active",
            "intent": "order",
            "subject": {"reference": "Patient/p1"},
            "medicationReference": {"reference": "#med"},
            "contained": [{"resourceType": "Medication", "id": "med", "status": "active"}],
        },
    )
    assert _ids(await client.get("/MedicationRequest", params={"_contained": "false"})) == {"mr1"}
    both = {"_contained": "false", "_containedType": "container"}
    assert _ids(await client.get("/MedicationRequest", params=both)) == {"mr1"}
    # Contained resources are never matches of their own type's search.
    assert _ids(await client.get("/Medication", params={"status": "active"})) == set()


RX = "http://www.nlm.nih.gov/research/umls/rxnorm"


def _medication(mid: str, code: str, form: str) -> dict[str, Any]:
    return {
        "resourceType": "Medication",
        "id": mid,
        "code": {"coding": [{"system": RX, "code": code}]},
        "form": {"text": form},
    }


def _request(rid: str, *contained: dict[str, Any]) -> dict[str, Any]:
    request: dict[str, Any] = {
        "resourceType": "MedicationRequest",
        "id": rid,
        "status": "active",
        "intent": "order",
        "subject": {"reference": "Patient/p1"},
        "medicationReference": {"reference": f"#{contained[0]['id']}"},
        "contained": list(contained),
    }
    if len(contained) > 1:  # dom-3: every contained resource is referenced from its container
        request["supportingInformation"] = [{"reference": f"#{c['id']}"} for c in contained[1:]]
    return request


@pytest.fixture
async def containers(client: httpx.AsyncClient) -> httpx.AsyncClient:
    """Two MedicationRequests and a MedicationStatement holding Medications, and one
    standalone Medication (R4 search.html#contained)."""
    await _put(
        client,
        _request(
            "mr1", _medication("tab", "1049221", "tablet"), _medication("syr", "197361", "syrup")
        ),
    )
    await _put(client, _request("mr2", _medication("other", "313782", "tablet")))
    await _put(
        client,
        {
            "resourceType": "MedicationStatement",
            "id": "ms1",
            "status": "active",
            "subject": {"reference": "Patient/p1"},
            "medicationReference": {"reference": "#m"},
            "contained": [_medication("m", "1049221", "capsule")],
        },
    )
    await _put(client, _medication("top", "1049221", "tablet"))
    return client


def _entries(response: httpx.Response) -> list[tuple[str, str, str]]:
    assert response.status_code == 200, response.text
    body = response.json()
    return sorted(
        (e["resource"]["resourceType"], e["resource"]["id"], e["fullUrl"].split("/fhir/")[-1])
        for e in body.get("entry", [])
        if e["search"]["mode"] == "match"
    )


async def test_contained_true_returns_the_containers_of_a_match(
    containers: httpx.AsyncClient,
) -> None:
    params = {"code": f"{RX}|1049221", "_contained": "true", "_total": "accurate"}
    response = await containers.get("/Medication", params=params)
    assert _entries(response) == [
        ("MedicationRequest", "mr1", "MedicationRequest/mr1"),
        ("MedicationStatement", "ms1", "MedicationStatement/ms1"),
    ]
    assert response.json()["total"] == 2
    # No criteria: every container of a Medication.
    every = await containers.get("/Medication", params={"_contained": "true"})
    assert {i for _, i, _ in _entries(every)} == {"mr1", "mr2", "ms1"}


async def test_contained_type_contained_returns_the_contained_resources(
    containers: httpx.AsyncClient,
) -> None:
    params = {"code": f"{RX}|1049221", "_contained": "true", "_containedType": "contained"}
    response = await containers.get("/Medication", params=params)
    assert _entries(response) == [
        ("Medication", "m", "MedicationStatement/ms1#m"),
        ("Medication", "tab", "MedicationRequest/mr1#tab"),
    ]
    # The container counts are not the entries' count: no total rather than a wrong one.
    assert "total" not in response.json()
    tab = next(e["resource"] for e in response.json()["entry"] if e["resource"]["id"] == "tab")
    assert tab["form"] == {"text": "tablet"}


async def test_contained_both_returns_standalone_and_contained_matches(
    containers: httpx.AsyncClient,
) -> None:
    params = {"code": f"{RX}|1049221", "_contained": "both"}
    assert {i for _, i, _ in _entries(await containers.get("/Medication", params=params))} == {
        "top",
        "mr1",
        "ms1",
    }
    params["_containedType"] = "contained"
    assert _entries(await containers.get("/Medication", params=params)) == [
        ("Medication", "m", "MedicationStatement/ms1#m"),
        ("Medication", "tab", "MedicationRequest/mr1#tab"),
        ("Medication", "top", "Medication/top"),
    ]
    # The default is unchanged: only the standalone Medication.
    assert _ids(await containers.get("/Medication", params={"code": f"{RX}|1049221"})) == {"top"}


async def test_each_contained_resource_must_match_on_its_own(
    containers: httpx.AsyncClient,
) -> None:
    """mr1 holds a 1049221 tablet and a 197361 syrup: no one Medication is a 1049221 syrup."""
    params = {"code": f"{RX}|1049221", "form:text": "syrup", "_contained": "true"}
    assert _entries(await containers.get("/Medication", params=params)) == []
    params["form:text"] = "tablet"
    assert {i for _, i, _ in _entries(await containers.get("/Medication", params=params))} == {
        "mr1"
    }
    # A negation holds per contained resource: mr1's syrup is not a 1049221.
    negated = {"code:not": f"{RX}|1049221", "_contained": "true", "_containedType": "contained"}
    assert _entries(await containers.get("/Medication", params=negated)) == [
        ("Medication", "other", "MedicationRequest/mr2#other"),
        ("Medication", "syr", "MedicationRequest/mr1#syr"),
    ]
    by_id = {"_id": "syr,m", "_contained": "true", "_containedType": "contained"}
    assert {i for _, i, _ in _entries(await containers.get("/Medication", params=by_id))} == {
        "syr",
        "m",
    }


async def test_contained_rows_follow_updates_and_deletes(containers: httpx.AsyncClient) -> None:
    params = {"code": f"{RX}|313782", "_contained": "true"}
    assert _ids(await containers.get("/Medication", params=params)) == {"mr2"}
    await _put(containers, _request("mr2", _medication("other", "999", "tablet")))
    assert _ids(await containers.get("/Medication", params=params)) == set()
    params["code"] = f"{RX}|1049221"
    assert await containers.delete("/MedicationStatement/ms1") is not None
    assert _ids(await containers.get("/Medication", params=params)) == {"mr1"}


async def test_chains_are_evaluated_inside_contained_resources(
    containers: httpx.AsyncClient,
) -> None:
    """R4 search.html#contained: "a chained condition will be evaluated inside contained
    resources" -- only those the chained reference points to."""
    standalone = _request("mr3", _medication("unused", "0", "tablet"))
    standalone["medicationReference"] = {"reference": "Medication/top"}
    standalone.pop("contained")
    await _put(containers, standalone)

    async def found(path: str, **params: str) -> set[str]:
        return _ids(await containers.get(path, params=params))

    # mr1 names #tab (contained), mr3 Medication/top (standalone): both are followed.
    assert await found("/MedicationRequest", **{"medication.code": f"{RX}|1049221"}) == {
        "mr1",
        "mr3",
    }
    assert await found("/MedicationStatement", **{"medication.code": "1049221"}) == {"ms1"}
    # mr1 also holds #syr (197361), referenced by supportingInformation, not medication.
    assert await found("/MedicationRequest", **{"medication.code": f"{RX}|197361"}) == set()
    assert await found("/MedicationRequest", **{"medication:Medication.form:text": "tab"}) == {
        "mr1",
        "mr2",
        "mr3",
    }
    assert await found("/MedicationRequest", **{"medication._id": "other,top"}) == {"mr2", "mr3"}
    # Every chained criterion holds on its own; AND with an ordinary criterion.
    both = {"medication.code": "313782", "subject": "Patient/p1"}
    assert await found("/MedicationRequest", **both) == {"mr2"}
    # The links follow updates: mr2's medicine changes, the old code no longer finds it.
    await _put(containers, _request("mr2", _medication("other", "999", "tablet")))
    assert await found("/MedicationRequest", **{"medication.code": "313782"}) == set()
    assert await found("/MedicationRequest", **{"medication.code": "999"}) == {"mr2"}


async def test_chains_continue_from_contained_resources(client: httpx.AsyncClient) -> None:
    """``MedicationRequest?medication.manufacturer.name=Acme``: the chain enters the
    contained Medication ``medicationReference`` names, then follows its ``manufacturer``
    to a standalone Organization (R4 search.html#contained and #chaining)."""
    for oid, name in (("acme", "Acme Pharma"), ("zen", "Zenith Labs")):
        await _put(client, {"resourceType": "Organization", "id": oid, "name": name})
    made_by_acme = _medication("a", "1049221", "tablet")
    made_by_acme["manufacturer"] = {"reference": "Organization/acme"}
    made_by_zen = _medication("z", "197361", "syrup")
    made_by_zen["manufacturer"] = {"reference": "Organization/zen"}
    await _put(client, _request("inside-acme", made_by_acme))
    await _put(client, _request("inside-zen", made_by_zen))
    # Acme's Medication held but not the one medicationReference names: not followed.
    await _put(client, _request("beside-acme", made_by_zen, made_by_acme))
    standalone = {**made_by_acme, "id": "top-acme"}
    await _put(client, standalone)
    top = _request("top", made_by_zen)
    top["medicationReference"] = {"reference": "Medication/top-acme"}
    top["supportingInformation"] = [{"reference": "#z"}]
    await _put(client, top)

    async def found(**params: str) -> set[str]:
        return _ids(await client.get("/MedicationRequest", params=params))

    assert await found(**{"medication.manufacturer.name": "acme"}) == {"inside-acme", "top"}
    typed = "medication:Medication.manufacturer:Organization.name"
    assert await found(**{typed: "zenith"}) == {"inside-zen", "beside-acme"}
    assert await found(**{"medication.manufacturer._id": "acme,zen"}) == {
        "inside-acme",
        "inside-zen",
        "beside-acme",
        "top",
    }
    # Two chains AND: no request names a Medication both made by Acme and a 197361.
    both = [("medication.manufacturer.name", "acme"), ("medication.code", "197361")]
    assert _ids(await client.get("/MedicationRequest", params=both)) == set()
    # The Organization's name changes: the chain follows.
    await _put(client, {"resourceType": "Organization", "id": "acme", "name": "Apex"})
    assert await found(**{"medication.manufacturer.name": "acme"}) == set()
    assert await found(**{"medication.manufacturer.name": "apex"}) == {"inside-acme", "top"}


@pytest.mark.parametrize(
    ("path", "params", "code", "fragment"),
    [
        (
            "/Medication",
            {"_contained": "yes"},
            "invalid",
            "_contained must be one of both, false, true",
        ),
        ("/Medication", {"_containedType": "contained"}, "invalid", "needs _contained=true"),
        (
            "/Medication",
            {"_contained": "true", "_include": "Medication:manufacturer"},
            "not-supported",
            "cannot be combined with _include",
        ),
        (
            "/MedicationRequest",
            {"_contained": "true", "subject.name": "x"},
            "not-supported",
            "cannot be combined with chained",
        ),
        ("", {"_contained": "true", "_type": "Medication"}, "not-supported", "system-level"),
    ],
)
@pytest.mark.parametrize("handling", ["strict", "lenient"])
async def test_contained_combinations_it_cannot_answer_are_refused_not_ignored(
    client: httpx.AsyncClient,
    path: str,
    params: dict[str, str],
    code: str,
    fragment: str,
    handling: str,
) -> None:
    response = await client.get(
        path or "/", params=params, headers={"Prefer": f"handling={handling}"}
    )
    assert fragment in _outcome(response)
    assert [i["code"] for i in response.json()["issue"]] == [code]


async def test_conditional_operations_refuse_contained(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/Medication",
        json=_medication("x", "1", "tablet"),
        headers={"If-None-Exist": "code=1&_contained=true"},
    )
    assert "contained" in _outcome(response)
