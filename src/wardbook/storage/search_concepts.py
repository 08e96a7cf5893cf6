"""SQL for token ``:in``/``:not-in``/``:above``/``:below`` (R4 search.html#token).

A value is an explicit set of (system, code) pairs (see wardbook.search.params.concepts):
one ``(i.system = ? AND i.code IN (...))`` term per system, which the
``(res_type, param, code, system)`` index answers with one probe per code.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from wardbook.errors import BadRequest
from wardbook.search.params.concepts import ConceptSetValue, by_system

if TYPE_CHECKING:
    from wardbook.storage.search_sql import Sql


def concept_sql(value: ConceptSetValue) -> Sql:
    """The index rows whose coding is one of the value's concepts (on alias ``i``)."""
    from wardbook.storage.search_sql import Sql
    from wardbook.storage.value_lists import Equality, any_of

    if value.concepts is None:
        raise BadRequest(f"ValueSet {value.text} could not be resolved for this search")
    if not value.concepts:
        return Sql("(1 = 0)")
    return any_of(
        [
            Equality("i.code", code, "i.system = ?", (system,))
            for system, codes in by_system(value.concepts).items()
            for code in codes
        ]
    )
