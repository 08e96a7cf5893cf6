"""The typed search query: what ``parse_search`` produces and the storage compiler runs.

R4 search (http://hl7.org/fhir/R4/search.html): criteria are ANDed (repeated parameters,
3.1.1.2), the values of one parameter are ORed (comma-separated); result parameters
(3.1.1.4: ``_sort``, ``_count``, ``_total``, ``_summary``, ``_elements``) shape the page.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal
from urllib.parse import quote

from wardbook.fhir.registry import SearchParamDef
from wardbook.search.fulltext import FullTextValue
from wardbook.search.params.composite import CompositeValue
from wardbook.search.params.concepts import ConceptSetValue
from wardbook.search.params.date import DateValue
from wardbook.search.params.number import NumberValue
from wardbook.search.params.quantity import QuantityValue
from wardbook.search.params.reference import ReferenceValue
from wardbook.search.params.string import StringValue
from wardbook.search.params.token import TokenValue
from wardbook.search.params.uri import UriValue

DEFAULT_COUNT = 50
MAX_COUNT = 1000
ENTITY_PARAMS = frozenset(("_id", "_lastUpdated"))

TotalMode = Literal["none", "estimate", "accurate"]


@dataclass(frozen=True, slots=True)
class MissingValue:
    """``:missing=true|false`` (R4 search.html#modifiers): whether the element is absent."""

    missing: bool


Value = (
    TokenValue
    | StringValue
    | DateValue
    | NumberValue
    | QuantityValue
    | UriValue
    | ReferenceValue
    | CompositeValue
    | MissingValue
    | ConceptSetValue
    | FullTextValue
)


@dataclass(frozen=True, slots=True)
class Criterion:
    """One AND term: a parameter, its modifier and its OR values (parsed per type).

    ``raw`` keeps the values as the client wrote them (still escaped) for query strings.
    ``_id`` and ``_lastUpdated`` are matched on the entity table, not an index table.
    """

    param: SearchParamDef
    modifier: str | None
    values: tuple[Value, ...]
    raw: tuple[str, ...]
    component_types: tuple[str, ...] = ()

    @property
    def code(self) -> str:
        return self.param.code

    @property
    def type(self) -> str:
        return self.param.type

    @property
    def on_entity(self) -> bool:
        return self.param.code in ENTITY_PARAMS

    @property
    def missing(self) -> bool | None:
        """For ``:missing``: True when the resource must lack the element."""
        if self.modifier != "missing":
            return None
        return any(isinstance(v, MissingValue) and v.missing for v in self.values)

    def key(self) -> str:
        return f"{self.code}:{self.modifier}" if self.modifier else self.code


@dataclass(frozen=True, slots=True)
class SortKey:
    """One ``_sort`` key (R4 search.html#sort); ``param`` is ``_lastUpdated`` or ``_id``."""

    param: str
    descending: bool = False

    def text(self) -> str:
        return f"-{self.param}" if self.descending else self.param


def _encode(text: str) -> str:
    return quote(text, safe=":|/,$-_.~*")


@dataclass(slots=True)
class SearchQuery:
    """A parsed search: criteria (AND of ORs) plus paging and result parameters.

    ``resource_type`` None is a system-level search (``types`` may narrow it, ``_type``);
    ``count`` 0 asks only for the total; ``cursor`` is the opaque ``_cursor`` of a next
    link; ``now`` (epoch µs) anchors the ``ap`` prefix; ``ignored`` lists the parameters
    dropped under lenient handling with the reason (R4 search.html#errors).
    """

    resource_type: str | None
    criteria: list[Criterion] = field(default_factory=list)
    count: int = DEFAULT_COUNT
    cursor: str | None = None
    sort: list[SortKey] = field(default_factory=list)
    total: TotalMode = "accurate"
    summary: str | None = None
    elements: list[str] | None = None
    ignored: list[tuple[str, str]] = field(default_factory=list)
    types: list[str] = field(default_factory=list)
    now: int = 0
    # Set by authorization, never by the client: only resources in this compartment
    # (e.g. ("Patient", "123") for a patient-scoped SMART token) can match.
    compartment: tuple[str, str] | None = None

    def to_query_string(self, cursor: str | None = None) -> str:
        """A canonical query string (sorted criteria) for self and next links."""
        pairs = sorted((c.key(), ",".join(c.raw)) for c in self.criteria)
        if self.types:
            pairs.append(("_type", ",".join(self.types)))
        if self.sort:
            pairs.append(("_sort", ",".join(s.text() for s in self.sort)))
        pairs.append(("_count", str(self.count)))
        if self.total != "accurate":
            pairs.append(("_total", self.total))
        if self.summary is not None:
            pairs.append(("_summary", self.summary))
        if self.elements is not None:
            pairs.append(("_elements", ",".join(self.elements)))
        if cursor is not None:
            pairs.append(("_cursor", cursor))
        return "&".join(f"{_encode(k)}={_encode(v)}" for k, v in pairs)

    @property
    def only_total(self) -> bool:
        """``_count=0`` or ``_summary=count``: no entries, just the total."""
        return self.count == 0 or self.summary == "count"
