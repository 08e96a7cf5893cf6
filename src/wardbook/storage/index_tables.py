"""The idx_* tables: their columns (taken from the row types) and the per-update row diff.

Index rows are a *set* per resource: the writers never store the same row twice, so an
update can delete exactly the rows that disappeared and insert only the new ones (as HAPI
does), leaving unchanged rows -- usually nearly all of them -- untouched.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from operator import attrgetter
from typing import Any

from wardbook.search.index import (
    CompositeDateRow,
    CompositeNumberRow,
    CompositeQuantityRow,
    CompositeRow,
    DateRow,
    IndexRows,
    NumberRow,
    QuantityRow,
    ReferenceRow,
    StringRow,
    TextRow,
    TokenRow,
    UriRow,
)

IndexKey = tuple[Any, ...]  # the row's fields in declaration order, ``param`` first


@dataclass(frozen=True, slots=True)
class IndexTable:
    """One idx_* table: ``pid``, ``res_type`` and then exactly the fields of ``row_type``."""

    name: str
    attribute: str  # the IndexRows list it stores
    row_type: type[Any]
    columns: tuple[str, ...]
    kinds: tuple[str, ...]  # per column: "str", "int" or "float"
    nullable: tuple[bool, ...]

    def keys(self, rows: IndexRows) -> set[IndexKey]:
        """The distinct rows of this table's kind in ``rows``, as column tuples."""
        getter = attrgetter(*self.columns)
        return {getter(row) for row in getattr(rows, self.attribute)}

    @property
    def insert_columns(self) -> str:
        return ", ".join(("pid", "res_type", *self.columns))


def _table(name: str, attribute: str, row_type: type[Any]) -> IndexTable:
    fields = dataclasses.fields(row_type)
    # Annotations are strings here (postponed evaluation): "str", "float | None", ...
    annotations = [str(f.type).replace(" ", "").split("|") for f in fields]
    kinds = tuple(next(part for part in parts if part != "None") for parts in annotations)
    if not set(kinds) <= {"str", "int", "float"}:
        raise TypeError(
            f"{row_type.__name__}: index columns must be str, int or float, not {kinds}"
        )
    columns = tuple(f.name for f in fields)
    if columns[0] != "param" or len(columns) < 2:
        raise TypeError(f"{row_type.__name__}: the first index column must be 'param'")
    nullable = tuple("None" in parts for parts in annotations)
    return IndexTable(name, attribute, row_type, columns, kinds, nullable)


INDEX_TABLES: tuple[IndexTable, ...] = (
    _table("idx_string", "string", StringRow),
    _table("idx_token", "token", TokenRow),
    _table("idx_date", "date", DateRow),
    _table("idx_number", "number", NumberRow),
    _table("idx_quantity", "quantity", QuantityRow),
    _table("idx_uri", "uri", UriRow),
    _table("idx_reference", "reference", ReferenceRow),
    _table("idx_composite", "composite", CompositeRow),
    _table("idx_composite_quantity", "composite_quantity", CompositeQuantityRow),
    _table("idx_composite_number", "composite_number", CompositeNumberRow),
    _table("idx_composite_date", "composite_date", CompositeDateRow),
    _table("idx_text", "text", TextRow),
)

TABLES_BY_NAME: dict[str, IndexTable] = {t.name: t for t in INDEX_TABLES}

IndexSets = dict[str, set[IndexKey]]  # table name -> rows


def index_sets(rows: IndexRows | IndexSets | None) -> IndexSets:
    """Every table's rows for one version (empty for a delete); sets pass through."""
    if rows is None:
        return {}
    if isinstance(rows, dict):
        return rows
    sets = {table.name: table.keys(rows) for table in INDEX_TABLES}
    return {name: keys for name, keys in sets.items() if keys}


@dataclass(frozen=True, slots=True)
class TableDiff:
    """What one table needs for a resource to go from its old rows to its new rows."""

    table: IndexTable
    removed: list[IndexKey]
    added: list[IndexKey]


def diff_index(old: IndexSets, new: IndexSets) -> list[TableDiff]:
    """Per table, the rows to delete and the rows to insert; unchanged tables are left out."""
    diffs: list[TableDiff] = []
    for table in INDEX_TABLES:
        before = old.get(table.name, set())
        after = new.get(table.name, set())
        if before == after:
            continue
        # Row order is free: a resource's index rows are written only under its entity's
        # write lock, and the statement text depends on the tables touched, not the rows.
        diffs.append(TableDiff(table, list(before - after), list(after - before)))
    return diffs
