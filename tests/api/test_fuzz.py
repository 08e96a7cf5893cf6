"""Schema-driven fuzzing of the FHIR API over the paths of its own OpenAPI document.

INTERFACES.md: "Errors on FHIR paths are always an OperationOutcome with the right status ...
Never a 500 for anything a client sent." Hypothesis draws requests over every path and
method of ``wardbook.api.openapi`` (and methods and paths that are not there), with valid,
invalid and existing ids, real search parameters with garbage values, prefixes and
modifiers, hostile headers (XML, garbage ETags, Prefer) and hostile bodies (random and
truncated JSON, non-UTF-8 bytes, huge numbers, deep nesting, the wrong resourceType,
mutated official R4 examples, JSON Patch and FHIRPath Patch documents). Every answer must
be below 500; every 4xx an ``application/fhir+json`` OperationOutcome whose issues carry a
severity and a code; every 2xx body JSON.

The app runs in-process (httpx's ASGITransport, driven from this synchronous test through an
anyio portal) on a SQLite database in a tmp dir, seeded with official examples so that
reads, searches, patches and histories find something.
"""

from __future__ import annotations

import gzip
import json
import logging
import os
import string
import traceback
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cache, partial
from pathlib import Path
from typing import Any
from urllib.parse import quote

import anyio.from_thread
import httpx
import pytest
from hypothesis import HealthCheck, given, reject, settings
from hypothesis import strategies as st

from wardbook.api.openapi import openapi_document
from wardbook.app import build_app
from wardbook.config import Settings
from wardbook.fhir import jsonio
from wardbook.fhir.registry import resource_types
from wardbook.storage.factory import open_repository

pytestmark = pytest.mark.slow

EXAMPLES = (
    Path(__file__).resolve().parents[2].parent
    / "shared"
    / "data"
    / "r4-examples"
    / "r4-examples.ndjson.gz"
)
FHIR_JSON = "application/fhir+json"
# Types that real clients use most get half of the draws; the rest spread over all 146.
CORE_TYPES = ("Patient", "Observation", "Encounter", "Condition", "Practitioner", "Bundle")
EXAMPLES_PER_TYPE = 3
ALL_METHODS = ("GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS")

# 5xx this fuzzer found whose fix belongs to another module: the traceback text that
# identifies each, and where the bug is. A request that hits one is discarded, so the run
# goes on looking for new ones; tests/api/test_bad_input.py pins each one explicitly.
# Delete an entry once its bug is fixed.
KNOWN_BUGS: dict[str, str] = {}  # signature in a traceback -> where the open bug is


def known_bug(tracebacks: list[str]) -> str | None:
    text = "\n".join(tracebacks)
    return next((where for signature, where in KNOWN_BUGS.items() if signature in text), None)


# --- the official examples ------------------------------------------------------------------


@cache
def examples_by_type() -> dict[str, tuple[dict[str, Any], ...]]:
    """A few official R4 examples per type (empty when the shared data is missing)."""
    found: dict[str, list[dict[str, Any]]] = {}
    if not EXAMPLES.exists():
        return {}
    with gzip.open(EXAMPLES) as handle:
        for line in handle:
            resource = jsonio.loads(line)
            kept = found.setdefault(resource["resourceType"], [])
            if len(kept) < EXAMPLES_PER_TYPE:
                kept.append(resource)
    return {name: tuple(resources) for name, resources in sorted(found.items())}


def seeds() -> list[dict[str, Any]]:
    """The examples stored before fuzzing: those kept of the core types, one of every other."""
    by_type = examples_by_type()
    return [
        r
        for name, resources in by_type.items()
        for r in (resources if name in CORE_TYPES else resources[:1])
        if "id" in r
    ]


def seeded_ids(resource_type: str) -> list[str]:
    return [r["id"] for r in seeds() if r["resourceType"] == resource_type]


# --- endpoints from the OpenAPI document ----------------------------------------------------


@dataclass(frozen=True, slots=True)
class Endpoint:
    """One documented operation: method, path template, type, its query parameter names."""

    method: str
    template: str
    resource_type: str | None
    query: tuple[str, ...]
    body: str | None  # the requestBodies component, e.g. "Resource", "Patch"


def _resolve(document: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        target: Any = document
        for part in node["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        node = target
    return node


@cache
def endpoints() -> tuple[Endpoint, ...]:
    document = openapi_document()
    types = resource_types()
    out: list[Endpoint] = []
    for path, item in document["paths"].items():
        shared = [_resolve(document, p) for p in item.get("parameters", [])]
        head = path.split("/")[1] if path != "/" else ""
        for method, operation in item.items():
            if method == "parameters":
                continue
            params = shared + [_resolve(document, p) for p in operation.get("parameters", [])]
            query = tuple(p["name"] for p in params if p["in"] == "query")
            body_ref = operation.get("requestBody", {}).get("$ref", "")
            out.append(
                Endpoint(
                    method.upper(),
                    path,
                    head if head in types else None,
                    query,
                    body_ref.rsplit("/", 1)[-1] or None,
                )
            )
    return tuple(out)


def core_endpoints() -> tuple[Endpoint, ...]:
    return tuple(e for e in endpoints() if e.resource_type in CORE_TYPES or e.resource_type is None)


# --- strategies -----------------------------------------------------------------------------

TEXT = st.text(st.characters(exclude_categories=("Cs",)), max_size=24)
HEADER_TEXT = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=40)
VALID_IDS = st.text(string.ascii_letters + string.digits + "-.", min_size=1, max_size=64).filter(
    lambda s: s not in (".", "..")
)
INVALID_IDS = st.one_of(
    st.sampled_from(["_search", "_history", "$validate", "a_b", "x" * 65, "%25", "a b", "é"]),
    st.text(st.characters(exclude_categories=("Cs",)), min_size=1, max_size=70).filter(
        lambda s: s not in (".", "..")
    ),
)
VERSIONS = st.one_of(
    st.sampled_from(["1", "2", "0", "-1", "01", "1.0", "abc", "9" * 30]),
    st.integers(min_value=0, max_value=10**25).map(str),
)
PREFIXES = ("eq", "ne", "gt", "lt", "ge", "le", "sa", "eb", "ap", "")
MODIFIERS = (
    "",
    ":exact",
    ":contains",
    ":missing",
    ":not",
    ":text",
    ":above",
    ":below",
    ":in",
    ":not-in",
    ":of-type",
    ":identifier",
    ":Patient",
    ":iterate",
    ":",
    "::",
)
EXTRA_PARAMETERS = (
    "_count",
    "_sort",
    "_format",
    "_summary",
    "_elements",
    "_include",
    "_revinclude",
    "_total",
    "_contained",
    "_since",
    "_at",
    "_cursor",
    "_type",
    "_id",
    "_lastUpdated",
    "_has:Observation:patient:code",
    "_has:Foo:bar:baz",
    "subject.name",
    "subject:Patient.birthdate",
    "patient.organization.name",
    "mode",
)
VALUES = st.one_of(
    TEXT,
    st.builds(
        lambda prefix, value: prefix + value,
        st.sampled_from(PREFIXES),
        st.one_of(
            st.sampled_from(
                [
                    "2020",
                    "2020-02",
                    "2020-02-30",
                    "2020-13-45",
                    "2020-01-01T25:00:00Z",
                    "2020-01-01T10:00:00",
                    "9999-12-31T23:59:59.999999+14:00",
                    "0000-01-01",
                    "1e999",
                    "-0",
                    "NaN",
                    "Infinity",
                    "5.4|http://unitsofmeasure.org|mg",
                    "5||mg",
                    "|",
                    "||",
                ]
            ),
            st.integers(min_value=-(10**30), max_value=10**30).map(str),
            st.floats(allow_nan=True, allow_infinity=True).map(repr),
            st.dates().map(str),
            st.datetimes().map(lambda d: d.isoformat()),
        ),
    ),
    st.sampled_from(
        [
            "http://loinc.org|8867-4",
            "|8867-4",
            "http://loinc.org|",
            "Patient/example",
            "Patient/",
            "http://example.org/fhir/Patient/1",
            "Patient/1/_history/1",
            "a,b,,c",
            ",",
            "-_lastUpdated",
            "_id,-_lastUpdated,birthdate",
            "json",
            "xml",
            "application/fhir+xml",
            "true",
            "count",
            "Patient:link",
            "*",
            "%",
            "\\,\\|\\$",
        ]
    ),
)
CONTENT_TYPES = (
    FHIR_JSON,
    "application/json",
    "application/json; charset=utf-8",
    "application/fhir+json; fhirVersion=4.0",
    "application/json+fhir",
    "application/fhir+xml",
    "application/xml",
    "text/xml",
    "text/plain",
    "application/json-patch+json",
    "application/x-www-form-urlencoded",
    "multipart/form-data; boundary=x",
    "application/octet-stream",
    "",
    ";",
    "application/",
)
ACCEPTS = (
    FHIR_JSON,
    "application/json",
    "*/*",
    "application/fhir+xml",
    "application/xml",
    "text/xml;q=0.9, application/xml",
    "text/html",
    "image/png",
    "application/fhir+json;q=0, application/xml",
    "",
    ",,,",
    ";q=1",
)
ETAGS = st.one_of(
    st.sampled_from(['W/"1"', 'W/"2"', '"1"', "1", "*", 'W/""', "W/", 'W/"-1"', 'W/"9' + "9" * 30]),
    HEADER_TEXT,
)
PREFERS = st.one_of(
    st.sampled_from(
        [
            "return=minimal",
            "return=representation",
            "return=OperationOutcome",
            'return="minimal"',
            "handling=strict",
            "handling=lenient",
            "respond-async",
            "return=minimal, handling=strict",
            "return",
            "=",
        ]
    ),
    HEADER_TEXT,
)
HTTP_DATES = st.one_of(
    st.sampled_from(
        ["Wed, 21 Oct 2015 07:28:00 GMT", "Thu, 01 Jan 1970 00:00:00 GMT", "Fri, 31 Dec 9999"]
    ),
    HEADER_TEXT,
)

JSON_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**80), max_value=2**80),
    st.floats(allow_nan=False, allow_infinity=False),
    TEXT,
)
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.one_of(TEXT, st.sampled_from(["resourceType", "id", "meta"])), inner),
    ),
    max_leaves=12,
)
PATCH_PATHS = (
    "/gender",
    "/name/0/family",
    "/name/-",
    "/name/99",
    "/id",
    "/resourceType",
    "/meta/versionId",
    "/status",
    "/text/div",
    "/",
    "",
    "/~1",
    "/~2",
    "/a/b/c",
    "/identifier/0",
)


def dumps(value: Any) -> bytes:
    """Any JSON value: decimals as written ("0.80"), ints beyond 64 bits via the stdlib."""
    try:
        return jsonio.dumps(value)
    except TypeError:
        return json.dumps(value, default=str).encode()


# Numbers whose text matters (R4 datatypes.html#decimal) or that overflow 64-bit columns.
NASTY_NUMBERS = st.sampled_from(
    [
        jsonio.Decimal("0.10"),
        jsonio.Decimal("1.50"),
        jsonio.Decimal("2.0"),
        jsonio.Decimal("1e2"),
        jsonio.Decimal("-0.000"),
        jsonio.Decimal("12345678901234567890.5"),
        jsonio.Decimal("1E-400"),
        jsonio.Decimal("1e400"),
        2**63,
        -(2**70),
        0,
        -1,
    ]
)


def _number_paths(node: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _number_paths(value, (*path, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _number_paths(value, (*path, index))
    elif isinstance(node, int | float) and not isinstance(node, bool):
        yield path


def _replaced(node: Any, path: tuple[Any, ...], value: Any) -> Any:
    """A copy of ``node`` with the leaf at ``path`` replaced (the examples stay untouched)."""
    if not path:
        return value
    head, rest = path[0], path[1:]
    if isinstance(node, dict):
        return {**node, head: _replaced(node[head], rest, value)}
    copy = list(node)
    copy[head] = _replaced(node[head], rest, value)
    return copy


@st.composite
def mutated_examples(draw: st.DrawFn, resource_type: str | None) -> Any:
    """An official example of the URL's type (or another), mutated or not."""
    by_type = examples_by_type()
    if not by_type:
        return {"resourceType": resource_type or "Patient"}
    names = list(by_type)
    same = resource_type in by_type and draw(st.integers(0, 3)) > 0
    name = resource_type if same and resource_type is not None else draw(st.sampled_from(names))
    resource: dict[str, Any] = dict(draw(st.sampled_from(by_type[name])))
    mutation = draw(
        st.sampled_from(
            [
                "none",
                "none",
                "none",
                "drop",
                "replace",
                "add",
                "id",
                "type",
                "no-type",
                "nest",
                "number",
                "number",
            ]
        )
    )
    keys = sorted(resource)
    if mutation == "drop" and keys:
        resource.pop(draw(st.sampled_from(keys)))
    elif mutation == "replace" and keys:
        resource[draw(st.sampled_from(keys))] = draw(JSON_VALUES)
    elif mutation == "add":
        resource[draw(TEXT)] = draw(JSON_VALUES)
    elif mutation == "id":
        resource["id"] = draw(st.one_of(VALID_IDS, INVALID_IDS, JSON_SCALARS))
    elif mutation == "type":
        resource["resourceType"] = draw(st.one_of(st.sampled_from(names), TEXT, JSON_SCALARS))
    elif mutation == "no-type":
        resource.pop("resourceType", None)
    elif mutation == "nest":
        depth = draw(st.integers(1, 600))
        as_list = draw(st.booleans())
        nested: Any = draw(JSON_SCALARS)
        for _ in range(depth):
            nested = [nested] if as_list else {"extension": nested}
        resource[draw(st.sampled_from([*keys, "extension", "contained"]))] = nested
    elif mutation == "number":
        paths = list(_number_paths(resource))
        if paths:
            path = draw(st.sampled_from(paths))
            resource = _replaced(resource, path, draw(NASTY_NUMBERS))
    return resource


def json_patches() -> st.SearchStrategy[Any]:
    operation = st.fixed_dictionaries(
        {
            "op": st.one_of(
                st.sampled_from(["add", "remove", "replace", "move", "copy", "test"]), TEXT
            ),
            "path": st.one_of(st.sampled_from(PATCH_PATHS), TEXT),
        },
        optional={
            "value": JSON_VALUES,
            "from": st.one_of(st.sampled_from(PATCH_PATHS), TEXT),
        },
    )
    return st.one_of(st.lists(operation, max_size=4), JSON_VALUES)


def fhirpath_patches() -> st.SearchStrategy[Any]:
    part = st.one_of(
        st.fixed_dictionaries(
            {
                "name": st.sampled_from(["type", "path", "name", "value", "index", "x"]),
                "valueCode": st.one_of(
                    st.sampled_from(["add", "insert", "delete", "replace", "move"]), TEXT
                ),
            }
        ),
        st.fixed_dictionaries(
            {
                "name": st.sampled_from(["path", "name", "value"]),
                "valueString": st.one_of(
                    st.sampled_from(["Patient", "Patient.name", "Patient.name[0].family", "%"]),
                    TEXT,
                ),
            }
        ),
        st.fixed_dictionaries({"name": st.just("index"), "valueInteger": st.integers(-3, 2**40)}),
        JSON_VALUES,
    )
    parameter = st.fixed_dictionaries(
        {"name": st.sampled_from(["operation", "resource", "mode", "x"])},
        optional={"part": st.lists(part, max_size=5), "valueCode": TEXT},
    )
    return st.fixed_dictionaries(
        {"resourceType": st.just("Parameters")},
        optional={"parameter": st.one_of(st.lists(parameter, max_size=3), JSON_VALUES)},
    )


@st.composite
def bodies(draw: st.DrawFn, endpoint: Endpoint) -> bytes | None:
    """A request body: mostly plausible for the endpoint, often hostile."""
    kind = draw(
        st.sampled_from(
            [
                "plausible",
                "plausible",
                "plausible",
                "plausible",
                "plausible",
                "none",
                "json",
                "truncated",
                "binary",
                "latin1",
                "huge-number",
                "deep",
                "form",
            ]
        )
    )
    if kind == "none":
        return None
    if kind == "json":
        return dumps(draw(JSON_VALUES))
    if kind == "binary":
        return draw(st.binary(max_size=64))
    if kind == "latin1":
        return ('{"resourceType": "Patient", "name": [{"family": "Müller"}]}').encode("latin-1")
    if kind == "huge-number":
        number = draw(
            st.sampled_from(
                ["1" + "0" * 400, "-1e999999", "1e-99999", "1.0" + "0" * 50, "0.1e400", "-0.0"]
            )
        )
        element = draw(st.sampled_from(["multipleBirthInteger", "valueDecimal", "count", "x"]))
        return (f'{{"resourceType": "{endpoint.resource_type}", "{element}": {number}}}').encode()
    if kind == "deep":
        depth = draw(st.sampled_from([100, 1000, 1100, 5000, 100_000]))
        inner = "[" * depth + "]" * depth
        if draw(st.booleans()):
            return inner.encode()
        return f'{{"resourceType": "{endpoint.resource_type}", "extension": {inner}}}'.encode()
    if kind == "form":
        return draw(st.lists(st.tuples(TEXT, TEXT), max_size=4).map(_form))
    plausible: Any
    if endpoint.body == "Patch":
        plausible = draw(st.one_of(json_patches(), fhirpath_patches()))
    elif endpoint.body == "SearchForm":
        return draw(
            st.lists(st.tuples(st.sampled_from(endpoint.query or ("x",)), VALUES)).map(_form)
        )
    elif endpoint.body == "Validate" and draw(st.booleans()):
        resource = draw(mutated_examples(endpoint.resource_type))
        mode = draw(st.one_of(st.sampled_from(["create", "update", "delete"]), TEXT))
        plausible = {
            "resourceType": "Parameters",
            "parameter": [
                {"name": "resource", "resource": resource},
                {"name": "mode", "valueCode": mode},
            ],
        }
    else:
        plausible = draw(mutated_examples(endpoint.resource_type))
    raw = dumps(plausible)
    if kind == "truncated" and len(raw) > 1:
        return raw[: draw(st.integers(1, len(raw) - 1))]
    return raw


def _form(pairs: list[tuple[str, str]]) -> bytes:
    return "&".join(f"{quote(k)}={quote(v)}" for k, v in pairs).encode()


@st.composite
def query_parameters(draw: st.DrawFn, endpoint: Endpoint) -> list[tuple[str, str]]:
    names = st.one_of(
        st.builds(
            lambda name, modifier: name + modifier,
            st.sampled_from(endpoint.query or ("_count",)),
            st.sampled_from(MODIFIERS),
        ),
        st.sampled_from(EXTRA_PARAMETERS),
        TEXT,
    )
    return draw(st.lists(st.tuples(names, VALUES), max_size=5))


@st.composite
def headers_for(draw: st.DrawFn, endpoint: Endpoint, body: bytes | None) -> dict[str, str]:
    headers: dict[str, str] = {}
    if body is not None or draw(st.integers(0, 4)) == 0:
        natural = {
            "Patch": "application/json-patch+json",
            "SearchForm": "application/x-www-form-urlencoded",
        }
        content_type = draw(
            st.one_of(
                st.just(natural.get(endpoint.body or "", FHIR_JSON)),
                st.just(natural.get(endpoint.body or "", FHIR_JSON)),
                st.sampled_from(CONTENT_TYPES),
                HEADER_TEXT,
                st.none(),
            )
        )
        if content_type is not None:
            headers["Content-Type"] = content_type
    optional: dict[str, st.SearchStrategy[str]] = {
        "Accept": st.one_of(st.sampled_from(ACCEPTS), HEADER_TEXT),
        "If-Match": ETAGS,
        "If-None-Match": ETAGS,
        "If-None-Exist": st.one_of(
            st.sampled_from(["identifier=http://x|1", "_id=example", "", "?", "a=b&&c"]),
            HEADER_TEXT,
        ),
        "If-Modified-Since": HTTP_DATES,
        "Prefer": PREFERS,
    }
    for name, values in optional.items():
        if draw(st.integers(0, 5)) == 0:
            headers[name] = draw(values)
    return headers


@dataclass(slots=True)
class FuzzRequest:
    method: str
    path: str
    params: list[tuple[str, str]]
    headers: dict[str, str]
    body: bytes | None

    def describe(self) -> str:
        body = "" if self.body is None else f"\nbody: {self.body[:300]!r}"
        return f"{self.method} {self.path} params={self.params} headers={self.headers}{body}"


def _segment(value: str) -> str:
    return quote(value, safe="")


@st.composite
def fuzz_requests(draw: st.DrawFn) -> FuzzRequest:
    endpoint = draw(st.one_of(st.sampled_from(core_endpoints()), st.sampled_from(endpoints())))
    method = endpoint.method if draw(st.integers(0, 7)) else draw(st.sampled_from(ALL_METHODS))
    path = endpoint.template
    if "{id}" in path:
        known = seeded_ids(endpoint.resource_type or "")
        ids = [st.sampled_from(known)] if known else []
        path = path.replace("{id}", _segment(draw(st.one_of(*ids, VALID_IDS, INVALID_IDS))))
    if "{vid}" in path:
        path = path.replace("{vid}", _segment(draw(VERSIONS)))
    twist = draw(st.integers(0, 15))
    if twist == 0 and endpoint.resource_type is not None:
        path = path.replace(
            endpoint.resource_type,
            draw(
                st.sampled_from(
                    ["Foo", "patient", "Resource", "DomainResource", "_history", "metadata"]
                )
            ),
            1,
        )
    elif twist == 1:
        path = path.rstrip("/") + "/" + _segment(draw(TEXT.filter(bool)))
    body = draw(bodies(endpoint))
    return FuzzRequest(
        method,
        path,
        draw(query_parameters(endpoint)),
        draw(headers_for(endpoint, body)),
        body,
    )


# --- the app under test ---------------------------------------------------------------------


class ErrorLog(logging.Handler):
    """Keeps the tracebacks the app logs, so a 500 in the report comes with its cause."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.tracebacks: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        text = record.getMessage()
        if record.exc_info:
            text += "\n" + "".join(traceback.format_exception(*record.exc_info))
        self.tracebacks.append(text)


@dataclass
class Fuzzed:
    """The app behind an HTTP client, and a portal to run its coroutines from sync code."""

    portal: anyio.from_thread.BlockingPortal
    client: httpx.AsyncClient
    errors: ErrorLog
    seeded: dict[str, int] = field(default_factory=dict)
    seed_failures: dict[str, str] = field(default_factory=dict)  # url -> traceback of a 5xx

    def request(
        self,
        method: str,
        path: str,
        *,
        params: list[tuple[str, str]] | None = None,
        headers: dict[str, str] | None = None,
        content: bytes | None = None,
    ) -> httpx.Response:
        send = partial(
            self.client.request, method, path, params=params, headers=headers, content=content
        )
        return self.portal.call(send)


@pytest.fixture(scope="module")
def fuzzed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fuzzed]:
    # WARDBOOK_FUZZ_DATABASE_URL points a deeper hunt at another (scratch) database.
    database = tmp_path_factory.mktemp("fuzz") / "wardbook.db"
    url = os.environ.get("WARDBOOK_FUZZ_DATABASE_URL") or f"sqlite:///{database}"
    repository = open_repository(url)
    app = build_app(Settings(env="test", no_auth=True, max_body_bytes=256 * 1024), repository)
    errors = ErrorLog()
    logger = logging.getLogger("wardbook")
    logger.addHandler(errors)
    transport = httpx.ASGITransport(app=app)
    client = httpx.AsyncClient(transport=transport, base_url="http://testserver/fhir")
    try:
        with anyio.from_thread.start_blocking_portal() as portal:
            portal.call(repository.open)
            try:
                portal.call(repository.migrate)
                state = Fuzzed(portal, client, errors)
                for resource in seeds():
                    url = f"/{resource['resourceType']}/{resource['id']}"
                    errors.tracebacks.clear()
                    response = state.request(
                        "PUT",
                        url,
                        content=jsonio.dumps(resource),
                        headers={"Content-Type": FHIR_JSON},
                    )
                    state.seeded[url] = response.status_code
                    if response.status_code >= 500 and not known_bug(errors.tracebacks):
                        state.seed_failures[url] = "\n".join(errors.tracebacks) or response.text
                yield state
            finally:
                portal.call(client.aclose)
                portal.call(repository.close)
    finally:
        logger.removeHandler(errors)


def check_response(request: FuzzRequest, response: httpx.Response, errors: ErrorLog) -> None:
    """The contract every answer keeps, whatever was sent."""
    status = response.status_code
    context = f"{request.describe()}\n-> {status} {response.text[:500]}"
    if status >= 500 and known_bug(errors.tracebacks):
        reject()
    assert status < 500, context + "\n" + "\n".join(errors.tracebacks)
    if request.method == "HEAD" or status in (204, 304):
        return
    if 300 <= status < 400:
        assert "location" in response.headers, context
        return
    if status >= 400:
        assert response.headers.get("content-type", "").startswith(FHIR_JSON), context
        outcome = response.json()
        assert outcome.get("resourceType") == "OperationOutcome", context
        issues = outcome.get("issue") or []
        assert any(i.get("severity") and i.get("code") for i in issues), context
        return
    if response.content:
        try:
            response.json()
        except ValueError:
            pytest.fail(f"2xx body is not JSON: {context}")


def test_seeding_stored_the_examples(fuzzed: Fuzzed) -> None:
    """One official example of every type is stored by PUT: never a 5xx, mostly a success."""
    assert fuzzed.seeded, "no official examples found in ../shared/data"
    assert not fuzzed.seed_failures, "\n\n".join(
        f"PUT {url} -> 5xx\n{cause}" for url, cause in fuzzed.seed_failures.items()
    )
    stored = [url for url, status in fuzzed.seeded.items() if status in (200, 201)]
    assert len(stored) >= len(fuzzed.seeded) * 0.85, {
        url: status for url, status in fuzzed.seeded.items() if status not in (200, 201)
    }


@settings(
    # WARDBOOK_FUZZ_EXAMPLES=5000 for a deeper hunt; 300 keep the suite under a minute.
    max_examples=int(os.environ.get("WARDBOOK_FUZZ_EXAMPLES", "300")),
    deadline=None,
    derandomize=bool(os.environ.get("CI")),
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    print_blob=True,
)
@given(sent=fuzz_requests())
def test_no_request_gets_a_5xx_and_every_error_is_an_operation_outcome(
    fuzzed: Fuzzed, sent: FuzzRequest
) -> None:
    fuzzed.errors.tracebacks.clear()
    response = fuzzed.request(
        sent.method,
        sent.path,
        params=sent.params,
        headers=sent.headers,
        content=sent.body,
    )
    check_response(sent, response, fuzzed.errors)
