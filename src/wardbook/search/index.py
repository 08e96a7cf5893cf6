"""Index rows: what the pure extractor produces and the storage backends persist.

One row type per SearchParameter type (R4 search.html#ptypes), mirroring one index table
each (HAPI's HFJ_SPIDX_* layout). Only the current version of a resource is indexed.
Instants are integer microseconds since the Unix epoch (UTC) so both backends compare
them as plain integers; every date is a range [low, high) at its own precision.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class StringRow:
    """idx_string: ``value_norm`` is lower-cased, accent-stripped, whitespace-collapsed."""

    param: str
    value_norm: str
    value_exact: str


@dataclass(frozen=True, slots=True)
class TokenRow:
    """idx_token: a coding, identifier, code or boolean; ``text`` is normalized display text."""

    param: str
    system: str | None
    code: str | None
    text: str | None = None


@dataclass(frozen=True, slots=True)
class DateRow:
    """idx_date: the range [low, high) in epoch microseconds covered by the value."""

    param: str
    low: int
    high: int


@dataclass(frozen=True, slots=True)
class NumberRow:
    """idx_number: the value and the range its precision implies (R4 search.html#number)."""

    param: str
    value: float
    low: float
    high: float


@dataclass(frozen=True, slots=True)
class QuantityRow:
    """idx_quantity: as written, plus the UCUM-canonical value and unit when convertible."""

    param: str
    value: float
    low: float
    high: float
    system: str | None
    code: str | None
    unit: str | None
    canonical_value: float | None = None
    canonical_code: str | None = None


@dataclass(frozen=True, slots=True)
class UriRow:
    """idx_uri."""

    param: str
    uri: str


@dataclass(frozen=True, slots=True)
class ReferenceRow:
    """idx_reference: a local target (type, id[, version]) or an absolute/canonical ``url``."""

    param: str
    target_type: str | None
    target_id: str | None
    target_version: str | None = None
    url: str | None = None


@dataclass(frozen=True, slots=True)
class CompositeRow:
    """idx_composite: the components' index keys joined, one row per combination."""

    param: str
    key: str


@dataclass(frozen=True, slots=True)
class CompositeQuantityRow:
    """idx_composite_quantity: a composite whose last component is a quantity.

    ``key`` joins the exact keys of the leading components with ``$`` (as in idx_composite);
    the other columns are the quantity exactly as idx_quantity holds it, so one row pairs a
    code with its own value (R4 search.html#composite).
    """

    param: str
    key: str
    value: float
    low: float
    high: float
    system: str | None
    code: str | None
    unit: str | None
    canonical_value: float | None = None
    canonical_code: str | None = None

    @classmethod
    def joining(cls, param: str, key: str, row: QuantityRow) -> CompositeQuantityRow:
        """``row``'s quantity under the leading components' ``key``."""
        return cls(
            param,
            key,
            row.value,
            row.low,
            row.high,
            row.system,
            row.code,
            row.unit,
            row.canonical_value,
            row.canonical_code,
        )

    def quantity(self) -> QuantityRow:
        """The quantity as a plain ``QuantityRow``, for the plain parameter's comparison."""
        return QuantityRow(
            self.param,
            self.value,
            self.low,
            self.high,
            self.system,
            self.code,
            self.unit,
            self.canonical_value,
            self.canonical_code,
        )


@dataclass(frozen=True, slots=True)
class CompositeNumberRow:
    """idx_composite_number: leading components' ``key`` and the number, as idx_number."""

    param: str
    key: str
    value: float
    low: float
    high: float


@dataclass(frozen=True, slots=True)
class CompositeDateRow:
    """idx_composite_date: leading components' ``key`` and the range [low, high), as idx_date."""

    param: str
    key: str
    low: int
    high: int


@dataclass(frozen=True, slots=True)
class TextRow:
    """idx_text: words of the narrative (``_text``) or of the whole resource (``_content``).

    ``text`` is normalized (case and accents folded) and reduced to words separated by
    single spaces, so SQLite FTS5, PostgreSQL ``to_tsvector`` and the in-memory matcher
    all see the same words (R4 search.html#content).
    """

    param: str
    text: str


@dataclass(slots=True)
class IndexRows:
    """Every index row of one resource version, grouped by table."""

    string: list[StringRow] = field(default_factory=list)
    token: list[TokenRow] = field(default_factory=list)
    date: list[DateRow] = field(default_factory=list)
    number: list[NumberRow] = field(default_factory=list)
    quantity: list[QuantityRow] = field(default_factory=list)
    uri: list[UriRow] = field(default_factory=list)
    reference: list[ReferenceRow] = field(default_factory=list)
    composite: list[CompositeRow] = field(default_factory=list)
    composite_quantity: list[CompositeQuantityRow] = field(default_factory=list)
    composite_number: list[CompositeNumberRow] = field(default_factory=list)
    composite_date: list[CompositeDateRow] = field(default_factory=list)
    text: list[TextRow] = field(default_factory=list)

    def is_empty(self) -> bool:
        return not any(
            (
                self.string,
                self.token,
                self.date,
                self.number,
                self.quantity,
                self.uri,
                self.reference,
                self.composite,
                self.composite_quantity,
                self.composite_number,
                self.composite_date,
                self.text,
            )
        )
