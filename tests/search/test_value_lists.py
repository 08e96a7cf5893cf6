"""The SQL of a criterion's OR values: IN lists for equalities, a shallow OR for the rest.

wardbook.storage.value_lists; R4 search.html#combining (comma-separated values OR).
"""

from __future__ import annotations

import re
import sqlite3

from wardbook.search.parse import parse_search
from wardbook.storage.search_sql import where_sql


def where(resource_type: str, name: str, value: str) -> str:
    return where_sql(parse_search(resource_type, [(name, value)], strict=True)).text


def test_three_token_codes_are_one_in_list() -> None:
    text = where("Observation", "code", "a,b,c")
    assert "i.code IN (?, ?, ?)" in text
    assert " OR " not in text


def test_system_code_pairs_share_an_in_list_per_system() -> None:
    text = where("Observation", "code", "http://loinc.org|a,http://loinc.org|b,|c,d")
    assert "(i.system = ? AND i.code IN (?, ?))" in text
    assert "(i.system IS NULL AND i.code = ?)" in text
    assert "i.code = ?" in text
    assert text.count(" OR ") == 2


def test_references_ids_uris_and_exact_strings_use_in_lists() -> None:
    refs = where("Observation", "subject", "Patient/a,Patient/b,Group/c,d")
    assert "(i.target_type = ? AND i.target_id IN (?, ?))" in refs
    assert "(i.target_type = ? AND i.target_id = ?)" in refs
    assert "e.res_id IN (?, ?, ?)" in where("Observation", "_id", "a,b,c")
    assert "i.uri IN (?, ?)" in where("ValueSet", "url", "http://a,http://b")
    assert "i.value_exact IN (?, ?)" in where("Patient", "family:exact", "Ng,Li")


def depth(text: str) -> int:
    deepest = level = 0
    for char in re.sub(r"'[^']*'", "", text):
        level += {"(": 1, ")": -1}.get(char, 0)
        deepest = max(deepest, level)
    return deepest


def test_many_prefix_values_nest_shallowly_and_sqlite_accepts_them() -> None:
    names = ",".join(f"name{n}" for n in range(1000))
    sql = where_sql(parse_search("Patient", [("family", names)], strict=True))
    assert depth(sql.text) < 12
    db = sqlite3.connect(":memory:")
    db.execute("CREATE TABLE resource_entity (pid, res_type, res_id, deleted)")
    db.execute("CREATE TABLE idx_string (pid, res_type, param, value_norm, value_exact)")
    # Before: "Expression tree is too large (maximum depth 1000)".
    db.execute(f"SELECT e.pid FROM resource_entity e WHERE {sql.text}", sql.params).fetchall()
