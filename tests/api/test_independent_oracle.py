"""Search results against an evaluation written from the R4 specification alone.

``tests/search`` compares the SQL with ``wardbook.search.matcher``; both read the same
parsed queries and index rows, so a misreading of the spec shared by the two would pass.
This test shares nothing with ``wardbook.search``: it evaluates each SearchParameter's
FHIRPath ``expression`` (from the R4 package) with fhirpathpy on the stored JSON, applies
the matching rules of R4 search.html written out again here, and compares the ids that the
HTTP API returns (every page) for generated queries over a Synthea sample:

- every token, string, date, reference, quantity and uri parameter of every resource type
  in the sample, with values drawn from the data (so most queries match something) and
  the forms ``code``, ``system|code``, ``|code``, ``system|``, ``:not``, string prefix,
  ``:exact``, ``:contains``, date prefixes ``eq ne gt lt ge le sa eb`` at year, month and
  day precision, ``Type/id``, bare id, ``:Type``, quantity prefixes with and without units,
  ``:missing``;
- OR lists (two values of one parameter) and AND (two parameters);
- chains to the Patient (``patient.gender``, ``subject:Patient.birthdate``) and ``_has``.

Matching rules used (R4 search.html): token codes match exactly (3.1.1.5.5); strings match
case- and accent-insensitively from the start of a part (3.1.1.5.3), ``:exact`` the whole
part, ``:contains`` anywhere; dates are ranges by precision and the prefixes compare ranges
(3.1.1.4, values without a zone read as UTC); numbers and quantities follow 3.1.1.4's
examples (``eq``/``ne`` against the search value's precision range, ``gt``/``lt``/``ge``/``le``
against the exact value, ``sa``/``eb`` beyond the range); a reference matches its
``Type/id`` or, bare, its id (3.1.1.5.6).
"""

from __future__ import annotations

import random
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any
from urllib.parse import quote, urlsplit

import httpx
import pytest
from fhirpathpy import compile as fhirpath_compile
from fhirpathpy.models import models

from wardbook.fhir import registry
from wardbook.storage.base import Repository

from ..search.data import SYNTHEA, load, official_examples, synthea_record

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

PATIENT_FILES = 4
QUERIES_PER_PARAM = 3
SEED = 20261127

Node = Any
Ids = frozenset[str]


# -- FHIRPath, from the SearchParameter's expression -------------------------------------


def _terms_for(expression: str, rtype: str) -> str | None:
    """The union terms of ``expression`` rooted at ``rtype`` (a shared parameter lists one
    term per base type), with ``Resource.``/``DomainResource.`` read as ``rtype`` and
    ``where(resolve() is X)`` as a test of the reference's type (fhirpathpy has no
    ``resolve``)."""
    terms, depth, start = [], 0, 0
    for i, ch in enumerate(expression):
        depth += ch == "("
        depth -= ch == ")"
        if ch == "|" and depth == 0:
            terms.append(expression[start:i].strip())
            start = i + 1
    terms.append(expression[start:].strip())
    kept = []
    for term in terms:
        term = re.sub(r"^(\(?)(Resource|DomainResource)\.", rf"\1{rtype}.", term)
        if re.match(r"^[a-z]", term):  # an unrooted term (InsurancePlan's "name | alias")
            term = f"{rtype}.{term}"
        if re.match(rf"^\(?{rtype}\.", term):
            # ``(X as T)`` fails on several Xs in fhirpathpy; ofType is the plural reading.
            term = re.sub(r"\(([\w.]+) as (\w+)\)", r"\1.ofType(\2)", term)
            kept.append(
                re.sub(
                    r"where\(resolve\(\) is (\w+)\)",
                    r"where(reference.matches('(^|/)\1/[^/]+(/_history/[^/]+)?$'))",
                    term,
                )
            )
    return " | ".join(kept) or None


def _values(evaluate: Callable[[Any], list[Any]], resource: dict[str, Any]) -> list[Node]:
    return list(evaluate(resource))


def enc(value: str) -> str:
    """A value from the data as it goes into a query string: ``\\ , $ |`` escaped with a
    backslash (R4 search.html#escaping), then percent-encoded."""
    for ch in "\\,$|":
        value = value.replace(ch, "\\" + ch)
    return quote(value, safe="")


# -- token ---------------------------------------------------------------------------------


def token_pairs(node: Node) -> list[tuple[str | None, str]]:
    """(system, code) pairs of a Coding, CodeableConcept, Identifier, ContactPoint or
    primitive (R4 search.html#token's table)."""
    if isinstance(node, bool):
        return [(None, "true" if node else "false")]
    if isinstance(node, str | int | Decimal):
        return [(None, str(node))]
    if not isinstance(node, dict):
        return []
    if "coding" in node or ("text" in node and "value" not in node and "code" not in node):
        return [p for c in node.get("coding", []) for p in token_pairs(c)]
    if "code" in node:
        return [(node.get("system"), str(node["code"]))]
    if "value" in node:  # Identifier; ContactPoint with its system (phone|555-...)
        return [(node.get("system"), str(node["value"]))]
    return []


def token_query(
    pair: tuple[str | None, str], rng: random.Random, *, system_only: bool = True
) -> tuple[str, Callable[[list[tuple[str | None, str]]], bool]]:
    system, code = pair
    forms = ["code"]
    if system:
        forms += ["system|code", "system|"] if system_only else ["system|code"]
    else:
        forms += ["|code"] if rng.random() < 0.3 else []
    form = rng.choice(forms)
    if form == "code":
        return enc(code), lambda pairs: any(c == code for _, c in pairs)
    if form == "system|code":
        return f"{enc(system or '')}|{enc(code)}", lambda pairs: (system, code) in pairs
    if form == "system|":
        return f"{enc(system or '')}|", lambda pairs: any(s == system for s, _ in pairs)
    return f"|{enc(code)}", lambda pairs: (None, code) in pairs


# -- string --------------------------------------------------------------------------------

NAME_PARTS = ("family", "given", "prefix", "suffix", "text")
ADDRESS_PARTS = ("line", "city", "district", "state", "postalCode", "country", "text")


def string_parts(node: Node) -> list[str]:
    if isinstance(node, str):
        return [node]
    if not isinstance(node, dict):
        return []
    parts: list[str] = []
    for key in (*NAME_PARTS, *ADDRESS_PARTS):
        value = node.get(key)
        if isinstance(value, str):
            parts.append(value)
        elif isinstance(value, list):
            parts.extend(v for v in value if isinstance(v, str))
    return parts


def fold(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold().strip()


def string_query(part: str, rng: random.Random) -> tuple[str, str, Callable[[list[str]], bool]]:
    """(modifier, value, predicate over a resource's parts)."""
    kind = rng.choice(["prefix", "prefix", "exact", "contains"])
    if kind == "exact":
        return ":exact", enc(part), lambda parts: part in parts
    folded = fold(part)
    if kind == "contains" and len(folded) > 3:
        start = rng.randrange(1, len(folded) - 2)
        needle = folded[start : start + 3]
        if needle == needle.strip():  # edge spaces: whether they count is not specified
            return ":contains", enc(needle), lambda parts: any(needle in fold(p) for p in parts)
    prefix = folded[: max(1, min(len(folded), rng.randint(1, 6)))].rstrip() or folded[:1]
    return "", enc(prefix), lambda parts: any(fold(p).startswith(prefix) for p in parts)


# -- date ----------------------------------------------------------------------------------

MICRO = timedelta(microseconds=1)
DATE_RE = re.compile(
    r"^(\d{4})(?:-(\d{2})(?:-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d+))?)?"
    r"(Z|[+-]\d{2}:\d{2})?)?)?)?$"
)
FAR_PAST = datetime(1, 1, 1, tzinfo=UTC)
FAR_FUTURE = datetime(9999, 12, 31, tzinfo=UTC)


def date_range(text: str) -> tuple[datetime, datetime] | None:
    """The closed range [first, last µs] a date, dateTime or instant covers."""
    match = DATE_RE.match(text)
    if match is None:
        return None
    year, month, day, hour, minute, second, fraction, zone = match.groups()
    tz = UTC
    if zone and zone != "Z":
        sign = 1 if zone[0] == "+" else -1
        tz = timezone(sign * timedelta(hours=int(zone[1:3]), minutes=int(zone[4:6])))
    if month is None:
        low = datetime(int(year), 1, 1, tzinfo=tz)
        return low, datetime(int(year) + 1, 1, 1, tzinfo=tz) - MICRO
    if day is None:
        low = datetime(int(year), int(month), 1, tzinfo=tz)
        nxt = datetime(int(year) + int(month) // 12, int(month) % 12 + 1, 1, tzinfo=tz)
        return low, nxt - MICRO
    if hour is None:
        low = datetime(int(year), int(month), int(day), tzinfo=tz)
        return low, low + timedelta(days=1) - MICRO
    low = datetime(int(year), int(month), int(day), int(hour), int(minute), tzinfo=tz)
    if second is None:
        return low, low + timedelta(minutes=1) - MICRO
    low = low.replace(second=int(second))
    if fraction is None:
        return low, low + timedelta(seconds=1) - MICRO
    digits = fraction[:6]
    low = low.replace(microsecond=int(digits.ljust(6, "0")))
    return low, low + timedelta(microseconds=10 ** (6 - len(digits))) - MICRO


def node_range(node: Node) -> tuple[datetime, datetime] | None:
    if isinstance(node, str):
        return date_range(node)
    if isinstance(node, dict) and ("event" in node or "repeat" in node):
        # Timing: "only the outer limits matter" (R4 search.html#date): its events and
        # its repeat.boundsPeriod.
        events = [r for r in map(date_range, node.get("event", [])) if r is not None]
        bounds = node.get("repeat", {}).get("boundsPeriod")
        if isinstance(bounds, dict):
            period = node_range(bounds)
            events += [period] if period is not None else []
        return (min(r[0] for r in events), max(r[1] for r in events)) if events else None
    if isinstance(node, dict) and ("start" in node or "end" in node):  # Period
        start = date_range(node["start"]) if "start" in node else None
        end = date_range(node["end"]) if "end" in node else None
        return (start[0] if start else FAR_PAST, end[1] if end else FAR_FUTURE)
    text = str(node)
    return date_range(text[1:] if text.startswith("@") else text)


def date_matches(
    prefix: str, search: tuple[datetime, datetime], target: tuple[datetime, datetime]
) -> bool:
    """R4 search.html#prefix for ranges."""
    slo, shi = search
    tlo, thi = target
    contained = slo <= tlo and thi <= shi
    if prefix == "eq":
        return contained
    if prefix == "ne":
        return not contained
    if prefix == "gt":
        return thi > shi
    if prefix == "lt":
        return tlo < slo
    if prefix == "ge":
        return thi > shi or contained
    if prefix == "le":
        return tlo < slo or contained
    if prefix == "sa":
        return tlo > shi
    if prefix == "eb":
        return thi < slo
    raise AssertionError(prefix)


def date_query(node: Node, rng: random.Random) -> tuple[str, Callable[[list[Node]], bool]] | None:
    found = node_range(node)
    if found is None or found[0] == FAR_PAST:
        return None
    start = found[0].astimezone(UTC)
    zone = timezone(timedelta(hours=rng.choice([-5, 0, 2])))
    local = (found[0] + timedelta(seconds=rng.choice([-1, 0, 1]))).astimezone(zone)
    offset = "Z" if zone.utcoffset(None) == timedelta(0) else local.strftime("%z")
    offset = offset if offset == "Z" else f"{offset[:3]}:{offset[3:]}"
    text = rng.choice(
        [
            f"{start:%Y}",
            f"{start:%Y-%m}",
            f"{start:%Y-%m-%d}",
            f"{local:%Y-%m-%dT%H:%M:%S}{offset}",  # to the second, in some zone
        ]
    )
    search = date_range(text)
    assert search is not None
    prefix = rng.choice(["eq", "ne", "gt", "lt", "ge", "le", "sa", "eb"])

    def predicate(nodes: list[Node]) -> bool:
        ranges = [r for r in map(node_range, nodes) if r is not None]
        if prefix == "ne":  # no value at all is not "not equal" either
            return any(date_matches("ne", search, r) for r in ranges)
        return any(date_matches(prefix, search, r) for r in ranges)

    return f"{prefix}{text}", predicate


# -- number and quantity -------------------------------------------------------------------


def precision(text: str) -> tuple[Decimal, Decimal, Decimal]:
    value = Decimal(text)
    exponent = value.as_tuple().exponent
    assert isinstance(exponent, int)
    half = Decimal(5).scaleb(exponent - 1)
    return value, value - half, value + half


def number_matches(prefix: str, text: str, value: Decimal) -> bool:
    exact, low, high = precision(text)
    if prefix == "eq":
        return low <= value < high
    if prefix == "ne":
        return not low <= value < high
    if prefix == "gt":
        return value > exact
    if prefix == "lt":
        return value < exact
    if prefix == "ge":
        return value >= exact
    if prefix == "le":
        return value <= exact
    if prefix == "sa":
        return value >= high
    if prefix == "eb":
        return value < low
    raise AssertionError(prefix)


def quantity_query(
    node: Node, rng: random.Random
) -> tuple[str, Callable[[list[Node]], bool]] | None:
    if not isinstance(node, dict) or "value" not in node:
        return None
    text = str(Decimal(str(node["value"])))
    prefix = rng.choice(["eq", "ne", "gt", "lt", "ge", "le", "sa", "eb"])
    system, code = node.get("system"), node.get("code")
    with_unit = bool(system and code) and rng.random() < 0.5

    def predicate(nodes: list[Node]) -> bool:
        for n in nodes:
            if isinstance(n, int | float | Decimal) and not isinstance(n, bool):
                n = {"value": n}  # a number parameter's values are plain numbers
            if not isinstance(n, dict) or "value" not in n:
                continue
            if with_unit and (n.get("system"), n.get("code")) != (system, code):
                continue
            if number_matches(prefix, text, Decimal(str(n["value"]))):
                return True
        return False

    query = f"{prefix}{text}|{enc(system)}|{enc(code)}" if with_unit else f"{prefix}{text}"
    return query, predicate


# -- reference -----------------------------------------------------------------------------


def ref_text(node: Node) -> str | None:
    if isinstance(node, dict):
        ref = node.get("reference")
        if isinstance(ref, str):
            found = re.match(r"^([A-Za-z]+/[A-Za-z0-9\-.]{1,64})(/_history/[^/]+)?$", ref)
            return found.group(1) if found else None
    return None


def reference_query(
    node: Node, rng: random.Random
) -> tuple[str, str, Callable[[list[Node]], bool]] | None:
    ref = ref_text(node)
    if ref is None:
        return None
    rtype, rid = ref.split("/")
    form = rng.choice(["typed", "bare", "modifier"])
    if form == "typed":
        return "", ref, lambda nodes: ref in map(ref_text, nodes)
    if form == "modifier":
        return f":{rtype}", rid, lambda nodes: ref in map(ref_text, nodes)
    return "", rid, lambda nodes: any((r or "/").split("/")[1] == rid for r in map(ref_text, nodes))


# -- the sample and the server ---------------------------------------------------------------


@dataclass
class Sample:
    by_type: dict[str, dict[str, dict[str, Any]]]  # type -> id -> resource
    nodes: dict[tuple[str, str], dict[str, list[Node]]]  # (type, param) -> id -> values

    def values(self, rtype: str, code: str) -> dict[str, list[Node]]:
        key = (rtype, code)
        if key not in self.nodes:
            param = registry.search_parameters(rtype)[code]
            expression = _terms_for(param.expression or "", rtype)
            found: dict[str, list[Node]] = {}
            if expression is not None:
                evaluate = fhirpath_compile(expression, models["r4"])
                for rid, resource in self.by_type[rtype].items():
                    found[rid] = _values(evaluate, resource)
            self.nodes[key] = found
        return self.nodes[key]


@dataclass
class Found:
    ids: Ids
    order: list[str]  # match ids as the pages gave them
    included: frozenset[str]  # Type/id of search.mode=include entries
    total: int | None


async def fetch(client: httpx.AsyncClient, rtype: str, query: str) -> Found | str:
    """Every match over every page (and what was included), or the server's error."""
    elements = "" if "_include" in query or "_revinclude" in query else "&_elements=id"
    # A literal + in a query string reads as a space; zones like +02:00 must be escaped.
    escaped = query.replace("+", "%2B")
    url: str | None = f"/{rtype}?{escaped}&_count=500&_total=accurate{elements}"
    order: list[str] = []
    included: set[str] = set()
    total: int | None = None
    headers = {"Prefer": "handling=strict"}
    while url:
        response = await client.get(url, headers=headers)
        if response.status_code != 200:
            issue = response.json().get("issue", [{}])[0]
            return f"{response.status_code} {issue.get('diagnostics')}"
        bundle = response.json()
        if total is None:
            total = bundle.get("total")
        for entry in bundle.get("entry", []):
            resource = entry["resource"]
            mode = entry.get("search", {}).get("mode", "match")
            if mode == "match":
                order.append(resource["id"])
            elif mode == "include":
                included.add(f"{resource['resourceType']}/{resource['id']}")
        nxt = next(
            (link["url"] for link in bundle.get("link", []) if link["relation"] == "next"), None
        )
        if nxt is None:
            break
        parts = urlsplit(nxt)
        url = parts.path.removeprefix("/fhir") + "?" + parts.query
    return Found(frozenset(order), order, frozenset(included), total)


Predicate = Callable[[list[Node]], bool]


@dataclass
class Query:
    rtype: str
    text: str
    expected: Ids
    included: frozenset[str] | None = None  # Type/id expected with search.mode=include
    # ``_sort``: the sort key of a match id (None: no value) and whether descending.
    sort_key: Callable[[str], Any] | None = None
    descending: bool = False


def _select(sample: Sample, rtype: str, code: str, predicate: Predicate) -> Ids:
    values = sample.values(rtype, code)
    return frozenset(rid for rid in sample.by_type[rtype] if predicate(values.get(rid, [])))


def has_value(ptype: str, node: Node) -> bool:
    """Whether an element gives the parameter a value (R4 search.html#modifiers: ``:missing``
    is about "a value for the parameter", which "usually equates to" the element): a
    Reference needs a ``reference`` (display or identifier alone is not one), a code a
    ``code``, a date something that reads as one."""
    if ptype == "reference":  # :identifier searches the identifier
        return isinstance(node, str) or (
            isinstance(node, dict) and ("reference" in node or "identifier" in node)
        )
    if ptype == "token":  # :text searches CodeableConcept.text and Coding.display
        codings = node.get("coding", []) if isinstance(node, dict) else []
        return bool(
            token_pairs(node)
            or (isinstance(node, dict) and (node.get("text") or node.get("display")))
            or any(isinstance(c, dict) and c.get("display") for c in codings)
        )
    if ptype == "date":
        return node_range(node) is not None
    if ptype == "string":
        return bool(string_parts(node))
    if ptype in ("quantity", "number"):
        return isinstance(node, int | float | Decimal) or (
            isinstance(node, dict) and ("value" in node or "low" in node or "high" in node)
        )
    return node is not None


def _one(sample: Sample, rtype: str, code: str, rng: random.Random) -> tuple[str, Predicate] | None:
    """One query term on parameter ``code`` (``name[:modifier]=value``) and its predicate."""
    param = registry.search_parameters(rtype)[code]
    values = sample.values(rtype, code)
    present = [(rid, v) for rid, nodes in values.items() for v in nodes]
    if rng.random() < 0.1 or not present:
        missing = rng.random() < 0.5
        ptype = param.type
        return (
            f"{code}:missing={'true' if missing else 'false'}",
            lambda nodes: missing != any(has_value(ptype, n) for n in nodes),
        )
    _, node = rng.choice(present)
    if param.type == "token":
        pairs = token_pairs(node)
        if not pairs:
            return None
        value, predicate = token_query(rng.choice(pairs), rng)
        if rng.random() < 0.15:
            positive = predicate
            return (
                f"{code}:not={value}",
                lambda nodes: not positive([p for n in nodes for p in token_pairs(n)]),
            )
        return f"{code}={value}", lambda nodes: predicate(
            [p for n in nodes for p in token_pairs(n)]
        )
    if param.type == "string":
        parts = string_parts(node)
        if not parts:
            return None
        modifier, value, spredicate = string_query(rng.choice(parts), rng)
        return f"{code}{modifier}={value}", lambda nodes: spredicate(
            [p for n in nodes for p in string_parts(n)]
        )
    if param.type == "date":
        made = date_query(node, rng)
        return None if made is None else (f"{code}={made[0]}", made[1])
    if param.type == "quantity" or param.type == "number":
        if param.type == "number":
            node = {"value": node}
        made = quantity_query(node, rng)
        return None if made is None else (f"{code}={made[0]}", made[1])
    if param.type == "reference":
        ref = ref_text(node)
        if param.targets and (ref is None or ref.split("/")[0] not in param.targets):
            return None  # a reference to a type the parameter does not name (bad example)
        rmade = reference_query(node, rng)
        return None if rmade is None else (f"{code}{rmade[0]}={rmade[1]}", rmade[2])
    if param.type == "uri" and isinstance(node, str):
        return f"{code}={enc(node)}", lambda nodes: node in nodes
    return None


def generate(sample: Sample, rng: random.Random) -> list[Query]:
    queries: list[Query] = []
    for rtype in sorted(sample.by_type):
        params = registry.search_parameters(rtype)
        usable = [
            code
            for code, p in params.items()
            if p.type in ("token", "string", "date", "reference", "quantity", "number", "uri")
            and code not in ("_text", "_content", "_list", "_has", "_type", "_query", "_filter")
            and p.expression
        ]
        made: list[tuple[str, str, Predicate]] = []
        for code in usable:
            for _ in range(QUERIES_PER_PARAM):
                one = _one(sample, rtype, code, rng)
                if one is not None:
                    text, predicate = one
                    made.append((code, text, predicate))
                    queries.append(Query(rtype, text, _select(sample, rtype, code, predicate)))
        # OR: two values of one parameter (not for modifiers that invert or :missing).
        plain = [(c, t, p) for c, t, p in made if ":" not in t.split("=", 1)[0]]
        for _ in range(min(10, len(plain))):
            code, text, predicate = rng.choice(plain)
            others = [(t, p) for c, t, p in plain if c == code and t != text]
            if others:
                text2, predicate2 = rng.choice(others)
                value2 = text2.split("=", 1)[1]
                if "," in value2 or "," in text:
                    continue
                p1, p2 = predicate, predicate2
                queries.append(
                    Query(
                        rtype,
                        f"{text},{value2}",
                        _select(sample, rtype, code, lambda n, p1=p1, p2=p2: p1(n) or p2(n)),
                    )
                )
        # AND: two parameters.
        for _ in range(min(10, len(made) // 2)):
            (c1, t1, p1), (c2, t2, p2) = rng.sample(made, 2)
            expected = _select(sample, rtype, c1, p1) & _select(sample, rtype, c2, p2)
            queries.append(Query(rtype, f"{t1}&{t2}", expected))
    return queries


def chain_queries(sample: Sample, rng: random.Random) -> list[Query]:
    """``patient.gender``/``subject:Patient.birthdate`` chains and ``_has`` on Patient."""
    queries: list[Query] = []
    patients = sample.by_type["Patient"]
    for rtype in ("Observation", "Condition", "Encounter", "MedicationRequest", "Procedure"):
        if rtype not in sample.by_type:
            continue
        subject_refs = sample.values(rtype, "subject")
        for _ in range(3):
            target_code = rng.choice(["gender", "birthdate", "family"])
            one = _one(sample, "Patient", target_code, rng)
            if one is None or ":" in one[0].split("=", 1)[0]:
                continue
            text, predicate = one
            chosen = {
                pid for pid in patients if predicate(sample.values("Patient", target_code)[pid])
            }
            expected = frozenset(
                rid
                for rid, nodes in subject_refs.items()
                if any((ref_text(n) or "").removeprefix("Patient/") in chosen for n in nodes)
            )
            link = rng.choice(["patient.", "subject:Patient.", "subject."])
            queries.append(Query(rtype, link + text, expected))
        for _ in range(2):
            one = (
                _one(sample, rtype, "code", rng)
                if "code" in registry.search_parameters(rtype)
                else None
            )
            if one is None or ":" in one[0].split("=", 1)[0]:
                continue
            text, predicate = one
            hits = _select(sample, rtype, "code", predicate)
            owners = frozenset(
                (ref_text(n) or "").removeprefix("Patient/")
                for rid in hits
                for n in subject_refs.get(rid, [])
            )
            queries.append(Query("Patient", f"_has:{rtype}:subject:{text}", owners & set(patients)))
    return queries


def _refs(sample: Sample, rtype: str, code: str, rid: str, target: str) -> set[str]:
    """``Type/id`` of the stored ``target`` resources that ``rid``'s ``code`` points to."""
    found = set()
    for node in sample.values(rtype, code).get(rid, []):
        ref = ref_text(node)
        if ref and ref.split("/")[0] == target and ref.split("/")[1] in sample.by_type[target]:
            found.add(ref)
    return found


def _date_key(sample: Sample, rtype: str, code: str, descending: bool) -> Callable[[str], Any]:
    """R4 search.html#sort as docs/search.md states it: the lowest value ascending, the
    highest descending (a date's range start, resp. end)."""

    def key(rid: str) -> Any:
        ranges = [r for r in map(node_range, sample.values(rtype, code).get(rid, [])) if r]
        if not ranges:
            return None
        return max(r[1] for r in ranges) if descending else min(r[0] for r in ranges)

    return key


def _string_key(sample: Sample, rtype: str, code: str, descending: bool) -> Callable[[str], Any]:
    def key(rid: str) -> Any:
        parts = [fold(p) for n in sample.values(rtype, code).get(rid, []) for p in string_parts(n)]
        if not parts:
            return None
        return max(parts) if descending else min(parts)

    return key


def result_queries(sample: Sample, rng: random.Random) -> list[Query]:
    """``_include``, ``_revinclude``, ``_sort`` and nested chains / ``_has``."""
    queries: list[Query] = []
    clinical = [
        t for t in ("Observation", "Condition", "Encounter", "Procedure") if t in sample.by_type
    ]
    dates = {"Condition": "onset-date"}
    for rtype in clinical:
        date_param = dates.get(rtype, "date")
        for _ in range(3):
            one = _one(
                sample,
                rtype,
                rng.choice(["code", date_param]) if rtype != "Encounter" else "date",
                rng,
            )
            if one is None:
                continue
            text, predicate = one
            code = text.split("=", 1)[0].split(":")[0]
            matches = _select(sample, rtype, code, predicate)
            link = "patient" if rng.random() < 0.5 else "subject"
            included = {r for m in matches for r in _refs(sample, rtype, link, m, "Patient")}
            queries.append(
                Query(rtype, f"{text}&_include={rtype}:{link}", matches, frozenset(included))
            )
            if rtype != "Encounter":
                enc = {
                    r for m in matches for r in _refs(sample, rtype, "encounter", m, "Encounter")
                }
                queries.append(
                    Query(
                        rtype,
                        f"{text}&_include={rtype}:encounter&_include={rtype}:patient",
                        matches,
                        frozenset(
                            enc
                            | {
                                r
                                for m in matches
                                for r in _refs(sample, rtype, "patient", m, "Patient")
                            }
                        ),
                    )
                )
            for descending in (False, True):
                sort = f"-{date_param}" if descending else date_param
                queries.append(
                    Query(
                        rtype,
                        f"{text}&_sort={sort}",
                        matches,
                        sort_key=_date_key(sample, rtype, date_param, descending),
                        descending=descending,
                    )
                )
    # _revinclude from patients chosen by gender or birthdate.
    for _ in range(6):
        one = _one(sample, "Patient", rng.choice(["gender", "birthdate", "family"]), rng)
        if one is None:
            continue
        text, predicate = one
        code = text.split("=", 1)[0].split(":")[0]
        patients = _select(sample, "Patient", code, predicate)
        source = rng.choice(clinical)
        link = "patient" if source != "Encounter" or rng.random() < 0.5 else "subject"
        revs = frozenset(
            f"{source}/{rid}"
            for rid in sample.by_type[source]
            if {r.split("/")[1] for r in _refs(sample, source, link, rid, "Patient")} & patients
        )
        queries.append(Query("Patient", f"{text}&_revinclude={source}:{link}", patients, revs))
        for descending in (False, True):
            key = rng.choice(["birthdate", "family"])
            make = _date_key if key == "birthdate" else _string_key
            queries.append(
                Query(
                    "Patient",
                    f"{text}&_sort={'-' if descending else ''}{key}",
                    patients,
                    sort_key=make(sample, "Patient", key, descending),
                    descending=descending,
                )
            )
    # Two links: Observation -> Encounter -> Patient, and _has nested two deep.
    if "Encounter" in sample.by_type and "Observation" in sample.by_type:
        for _ in range(4):
            one = _one(sample, "Patient", rng.choice(["gender", "birthdate"]), rng)
            if one is None or ":" in one[0].split("=", 1)[0]:
                continue
            text, predicate = one
            code = text.split("=", 1)[0]
            patients = _select(sample, "Patient", code, predicate)
            encounters = {
                eid
                for eid in sample.by_type["Encounter"]
                if {r.split("/")[1] for r in _refs(sample, "Encounter", "subject", eid, "Patient")}
                & patients
            }
            observations = frozenset(
                oid
                for oid in sample.by_type["Observation"]
                if {
                    r.split("/")[1]
                    for r in _refs(sample, "Observation", "encounter", oid, "Encounter")
                }
                & encounters
            )
            queries.append(Query("Observation", f"encounter.subject:Patient.{text}", observations))
        for _ in range(4):
            one = _one(sample, "Observation", "code", rng)
            if one is None or ":" in one[0].split("=", 1)[0]:
                continue
            text, predicate = one
            obs = _select(sample, "Observation", "code", predicate)
            encounters = {
                r.split("/")[1]
                for o in obs
                for r in _refs(sample, "Observation", "encounter", o, "Encounter")
            }
            owners = frozenset(
                r.split("/")[1]
                for e in encounters
                for r in _refs(sample, "Encounter", "subject", e, "Patient")
            )
            queries.append(
                Query(
                    "Patient", f"_has:Encounter:subject:_has:Observation:encounter:{text}", owners
                )
            )
    return queries


def composite_queries(sample: Sample, rng: random.Random) -> list[Query]:
    """R4 search.html#composite on Observation: code and value must come from one element
    (the Observation itself, one of its components, or either for ``combo-``)."""
    observations = sample.by_type.get("Observation", {})

    def bases(resource: dict[str, Any], where: str) -> list[dict[str, Any]]:
        found = [resource] if where in ("self", "combo") else []
        if where in ("component", "combo"):
            found += [c for c in resource.get("component", []) if isinstance(c, dict)]
        return found

    def pairs(base: dict[str, Any]) -> list[tuple[str | None, str]]:
        return token_pairs(base.get("code", {}))

    shapes = [
        (prefix + "code-value-" + kind, where, kind)
        for prefix, where in (("", "self"), ("component-", "component"), ("combo-", "combo"))
        for kind in ("quantity", "concept")
    ] + [("code-value-date", "self", "date")]
    queries: list[Query] = []
    for name, where, kind in shapes:
        element = {"quantity": "valueQuantity", "concept": "valueCodeableConcept"}.get(kind)
        candidates = [
            b
            for r in observations.values()
            for b in bases(r, where)
            if pairs(b)
            and (element in b if element else ("valueDateTime" in b or "valuePeriod" in b))
        ]
        for _ in range(8 if candidates else 0):
            base = rng.choice(candidates)
            # ``system|`` (any code of a system) in a composite is refused: see docs/search.md.
            code_text, code_predicate = token_query(rng.choice(pairs(base)), rng, system_only=False)
            value_predicate: Callable[[dict[str, Any]], bool]
            if kind == "quantity":
                made = quantity_query(base["valueQuantity"], rng)
                if made is None:
                    continue
                value_text, qpredicate = made
                value_predicate = lambda b, q=qpredicate: q([b.get("valueQuantity")])  # noqa: E731
            elif kind == "concept":
                value_pairs = token_pairs(base["valueCodeableConcept"])
                if not value_pairs:
                    continue
                value_text, tpredicate = token_query(
                    rng.choice(value_pairs), rng, system_only=False
                )
                value_predicate = lambda b, t=tpredicate: t(  # noqa: E731
                    token_pairs(b.get("valueCodeableConcept", {}))
                )
            else:
                dmade = date_query(base.get("valueDateTime") or base.get("valuePeriod"), rng)
                if dmade is None:
                    continue
                value_text, dpredicate = dmade
                value_predicate = lambda b, d=dpredicate: d(  # noqa: E731
                    [v for v in (b.get("valueDateTime"), b.get("valuePeriod")) if v]
                )
            expected = frozenset(
                rid
                for rid, resource in observations.items()
                if any(
                    code_predicate(pairs(b)) and value_predicate(b) for b in bases(resource, where)
                )
            )
            queries.append(Query("Observation", f"{name}={code_text}${value_text}", expected))
    return queries


def check(query: Query, got: Found) -> str | None:
    """What is wrong with the answer to ``query`` (None: nothing)."""
    where = f"{query.rtype}?{query.text}"
    if got.ids != query.expected:
        missing, extra = query.expected - got.ids, got.ids - query.expected
        return (
            f"{where}: {len(got.ids)} != {len(query.expected)} "
            f"(missing {sorted(missing)[:2]}, extra {sorted(extra)[:2]})"
        )
    if len(got.order) != len(got.ids):
        return f"{where}: {len(got.order) - len(got.ids)} matches appear twice"
    if got.total != len(query.expected):
        return f"{where}: total {got.total} != {len(query.expected)}"
    if query.included is not None and got.included != query.included:
        missing, extra = query.included - got.included, got.included - query.included
        return (
            f"{where}: {len(got.included)} included != {len(query.included)} "
            f"(missing {sorted(missing)[:2]}, extra {sorted(extra)[:2]})"
        )
    if query.sort_key is not None:
        keys = [query.sort_key(rid) for rid in got.order]
        valued = [k for k in keys if k is not None]
        if keys[: len(valued)] != valued:
            return f"{where}: a resource without a value comes before one with a value"
        if valued != sorted(valued, reverse=query.descending):
            return f"{where}: not in order"
    return None


def sample_of(stored: list[dict[str, Any]]) -> Sample:
    by_type: dict[str, dict[str, dict[str, Any]]] = {}
    for resource in stored:
        by_type.setdefault(resource["resourceType"], {})[resource["id"]] = resource
    return Sample(by_type, {})


async def disagreements(client: httpx.AsyncClient, queries: list[Query]) -> tuple[list[str], int]:
    """What is wrong with the server's answers, and how many queries matched something."""
    wrong: list[str] = []
    matched = 0
    for query in queries:
        got = await fetch(client, query.rtype, query.text)
        if isinstance(got, str):
            wrong.append(f"{query.rtype}?{query.text}: {got}")
            continue
        matched += bool(query.expected)
        problem = check(query, got)
        if problem is not None:
            wrong.append(problem)
    return wrong, matched


async def test_search_agrees_with_an_independent_reading_of_the_spec(
    repository: Repository, client: httpx.AsyncClient
) -> None:
    files = sorted(p for p in SYNTHEA.glob("*.json.bz2") if not p.name.startswith("0-"))
    resources = [r for path in files[:PATIENT_FILES] for r in synthea_record(path)]
    stored = await load(repository, resources)
    sample = sample_of(stored)
    rng = random.Random(SEED)
    queries = generate(sample, rng) + chain_queries(sample, rng) + result_queries(sample, rng)
    queries += composite_queries(sample, rng)

    wrong, matched = await disagreements(client, queries)
    assert wrong == [], f"{len(wrong)} of {len(queries)} disagree:\n" + "\n".join(wrong[:60])
    # The generator drew its values from the data: most queries must find something.
    assert len(queries) > 800
    assert matched > len(queries) // 2


async def test_search_on_the_official_examples_agrees_with_the_spec_reading(
    repository: Repository, client: httpx.AsyncClient
) -> None:
    """The same generated queries over the 5,297 official R4 examples: every resource type,
    and shapes Synthea lacks (numbers, tags, profiles, identifiers of many kinds, contained
    resources, extensions)."""
    stored = await load(repository, list(official_examples()))
    sample = sample_of(stored)
    queries = generate(sample, random.Random(SEED + 1))
    wrong, matched = await disagreements(client, queries)
    assert wrong == [], f"{len(wrong)} of {len(queries)} disagree:\n" + "\n".join(wrong[:80])
    assert len(queries) > 3000
    assert matched > len(queries) // 2
