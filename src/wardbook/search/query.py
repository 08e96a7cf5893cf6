"""The typed search query: what ``parse_search`` produces and the storage compiler runs.

R4 search (http://hl7.org/fhir/R4/search.html): criteria are ANDed (repeated parameters,
3.1.1.2), the values of one parameter are ORed (comma-separated); result parameters
(3.1.1.4: ``_sort``, ``_count``, ``_total``, ``_summary``, ``_elements``) shape the page.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, TypeGuard
from urllib.parse import quote

from wardbook.fhir.registry import SearchParamDef
from wardbook.search.fulltext import FullTextValue
from wardbook.search.params.composite import CompositeValue
from wardbook.search.params.concepts import NEGATED as NEGATED_CONCEPTS
from wardbook.search.params.concepts import ConceptSetValue
from wardbook.search.params.date import DateValue
from wardbook.search.params.near import NearValue
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
class Reach:
    """What an authorized search may match, and what its chains and ``_has`` may look at.

    A resource of a type in ``limited`` (every type when None) is reachable only when it is
    in the ``compartment`` of one of ``owners`` (R4 compartmentdefinition.html): the token's
    patient for a patient-scoped SMART token; the patients in a clinician's care (and those
    opened by break-the-glass) for clinical types. Set by ``wardbook.service.authorization``.
    """

    compartment: str
    owners: tuple[str, ...]
    limited: frozenset[str] | None = None

    def limits(self, resource_type: str) -> bool:
        """Whether resources of ``resource_type`` must be in an owner's compartment."""
        return self.limited is None or resource_type in self.limited


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
    | NearValue
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


def follows_into_contained(term: object) -> TypeGuard[Criterion | ChainCriterion]:
    """Whether a chain's last link is also evaluated inside contained resources.

    R4 search.html#contained: "a chained condition will be evaluated inside contained
    resources" -- ``MedicationRequest?medication.code=X`` finds a MedicationRequest whose
    ``medicationReference`` is ``#med``. A contained resource's rows are stored on its
    container (``wardbook.search.extract.local_link_scope``), so a plain criterion that
    reads index rows holds there as on a standalone resource, and a further chain
    continues from the contained resource's references to standalone resources
    (``MedicationRequest?medication.manufacturer.name=X``). Not followed: ``_has`` (nothing
    outside the container can refer to a contained resource), ``_lastUpdated`` (it has
    none), full text and ``near``, and negations (``:not``, ``:not-in``,
    ``:missing=true``), which hold for lack of rows and would match containers holding
    nothing of the kind. Both the SQL compiler and the in-memory matcher use this one rule.
    """
    if isinstance(term, ChainCriterion):
        return True
    if not isinstance(term, Criterion):
        return False
    if term.code in ("_lastUpdated", "_text", "_content") or term.type == "special":
        return False
    return term.missing is not True and term.modifier not in ("not", *NEGATED_CONCEPTS)


@dataclass(frozen=True, slots=True)
class ChainCriterion:
    """A chained parameter, R4 search.html#chaining: ``subject:Patient.name=peter``.

    ``param`` is the reference parameter on the searched type; ``branches`` pairs each
    candidate target type (the ``:Type`` qualifier, or every target type that defines the
    chained parameter) with the rest of the chain parsed for that type (itself a plain,
    chained or ``_has`` term). A resource matches when one of its ``param`` references
    points to a current resource of a branch's type that satisfies that branch's term.
    """

    name: str
    param: SearchParamDef
    branches: tuple[tuple[str, Term], ...]
    raw: tuple[str, ...]

    def key(self) -> str:
        return self.name


@dataclass(frozen=True, slots=True)
class HasCriterion:
    """Reverse chaining, R4 search.html#has: ``_has:Observation:patient:code=1234-5``.

    Matches a resource when some current ``source_type`` resource whose ``param`` refers to
    it satisfies ``inner`` (a plain, chained or nested ``_has`` term on ``source_type``).
    """

    name: str
    source_type: str
    param: SearchParamDef
    inner: Term
    raw: tuple[str, ...]

    def key(self) -> str:
        return self.name


@dataclass(frozen=True, slots=True)
class CompartmentCriterion:
    """Membership of a compartment, R4 search.html#compartments (compartmentdefinition.html).

    ``GET [base]/Patient/123/Observation``: an Observation is in Patient 123's compartment
    when one of the linking parameters of the CompartmentDefinition (``subject``,
    ``performer``) refers to Patient/123; ``links`` maps each member type to those
    parameters (``{def}`` means the compartment's own resource).
    """

    compartment: str
    owner_id: str
    links: tuple[tuple[str, tuple[str, ...]], ...]

    def key(self) -> str:
        return ""

    @property
    def raw(self) -> tuple[str, ...]:
        return ()


@dataclass(frozen=True, slots=True)
class ListCriterion:
    """``_list=42``, R4 search.html#list: resources referenced by ``List/42``'s entries."""

    list_ids: tuple[str, ...]
    raw: tuple[str, ...]

    def key(self) -> str:
        return "_list"


Term = Criterion | ChainCriterion | HasCriterion | CompartmentCriterion | ListCriterion


@dataclass(frozen=True, slots=True)
class IncludeSpec:
    """One ``_include`` / ``_revinclude`` (R4 search.html#include, #revinclude).

    ``source_type:param[:target_type]``; ``source_type`` None means ``*`` (every reference
    parameter of every type), ``param`` None means ``Type:*``. ``iterate`` (``:iterate``,
    or the older ``:recurse``) applies the directive to included resources as well.
    """

    reverse: bool
    source_type: str | None
    param: str | None
    target_type: str | None
    iterate: bool
    text: str

    def key(self) -> str:
        name = "_revinclude" if self.reverse else "_include"
        return f"{name}:iterate" if self.iterate else name


@dataclass(frozen=True, slots=True)
class SortKey:
    """One ``_sort`` key (R4 search.html#sort); ``param`` is the parameter's code.

    ``definition`` is None for ``_id`` and ``_lastUpdated`` (entity columns) and the
    SearchParameter otherwise (its lowest value sorts ascending, its highest descending;
    resources without a value come last in both directions). ``point`` is set for the
    ``near`` key only: Locations sort by their great-circle distance from it.
    """

    param: str
    descending: bool = False
    definition: SearchParamDef | None = None
    point: NearValue | None = None

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
    criteria: list[Term] = field(default_factory=list)
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
    # (e.g. ("Patient", "123") for a patient-scoped SMART token) can match -- or be looked
    # at by a chain or ``_has`` (a special case of ``limits``).
    compartment: tuple[str, str] | None = None
    # Set by authorization, never by the client: what the search may reach at all (every
    # limit holds at once).
    limits: tuple[Reach, ...] = ()
    includes: list[IncludeSpec] = field(default_factory=list)
    contained: str | None = None
    contained_type: str | None = None

    def reaches(self) -> tuple[Reach, ...]:
        """Every access limit authorization set (all must hold): ``compartment``, ``limits``."""
        if self.compartment is None:
            return self.limits
        return (*self.limits, Reach(self.compartment[0], (self.compartment[1],)))

    def to_query_string(self, cursor: str | None = None) -> str:
        """A canonical query string (sorted criteria) for self and next links."""
        pairs = sorted((c.key(), ",".join(c.raw)) for c in self.criteria if c.key())
        pairs.extend((i.key(), i.text) for i in self.includes)
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
        if self.contained is not None:
            pairs.append(("_contained", self.contained))
        if self.contained_type is not None:
            pairs.append(("_containedType", self.contained_type))
        if cursor is not None:
            pairs.append(("_cursor", cursor))
        return "&".join(f"{_encode(k)}={_encode(v)}" for k, v in pairs)

    @property
    def searches_contained(self) -> bool:
        """``_contained=true`` or ``both``: contained resources can match (#contained)."""
        return self.contained in ("true", "both")

    @property
    def returns_contained(self) -> bool:
        """``_containedType=contained``: the matching contained resources are the entries."""
        return self.searches_contained and self.contained_type == "contained"

    @property
    def only_total(self) -> bool:
        """``_count=0`` or ``_summary=count``: no entries, just the total."""
        return self.count == 0 or self.summary == "count"
