"""Pure pieces of the storage layer: cursors, placeholders, migration files, index diff, URLs."""

from __future__ import annotations

import pytest

from wardbook.errors import BadRequest
from wardbook.search.index import IndexRows, StringRow, TokenRow
from wardbook.storage.factory import UnsupportedDatabaseUrl, open_repository
from wardbook.storage.history_query import decode_cursor, encode_cursor
from wardbook.storage.index_tables import diff_index, index_sets
from wardbook.storage.migrate import split_sqlite_script
from wardbook.storage.postgres import PostgresRepository
from wardbook.storage.postgres.connection import advisory_key, to_dollar_params
from wardbook.storage.sqlite import SqliteRepository


@pytest.mark.parametrize(
    ("last_updated", "vid"), [(0, 1), (1_709_281_800_000_000, 42), (-5, 2**62)]
)
def test_cursors_round_trip_and_are_url_safe(last_updated: int, vid: int) -> None:
    cursor = encode_cursor(last_updated, vid)

    assert decode_cursor(cursor) == (last_updated, vid)
    assert all(c.isalnum() or c in "-_" for c in cursor)


def test_a_truncated_cursor_is_rejected() -> None:
    with pytest.raises(BadRequest):
        decode_cursor(encode_cursor(1, 2)[:-3])


def test_placeholders_are_numbered_in_order() -> None:
    sql = "SELECT a FROM t WHERE b = ? AND c IN (?, ?) LIMIT ?"

    assert to_dollar_params(sql) == "SELECT a FROM t WHERE b = $1 AND c IN ($2, $3) LIMIT $4"
    assert to_dollar_params("SELECT 1") == "SELECT 1"


def test_advisory_keys_are_stable_signed_64_bit_integers() -> None:
    key = advisory_key("Patient?identifier=https://wardbook.example.org/mrn|MRN0001")

    assert key == advisory_key("Patient?identifier=https://wardbook.example.org/mrn|MRN0001")
    assert key != advisory_key("Patient?identifier=https://wardbook.example.org/mrn|MRN0002")
    assert -(2**63) <= key < 2**63


def test_sqlite_scripts_split_into_statements_despite_tricky_text() -> None:
    script = """
    -- a comment; with a semicolon
    CREATE TABLE t (a TEXT DEFAULT 'x;y');
    /* block; comment */
    CREATE TRIGGER tr AFTER INSERT ON t BEGIN
        UPDATE t SET a = 'z;' WHERE rowid = new.rowid;
    END;
    -- trailing comment only
    """

    statements = split_sqlite_script(script)

    assert len(statements) == 2
    assert statements[0].endswith("DEFAULT 'x;y');")
    assert statements[1].startswith("/* block; comment */")
    assert statements[1].endswith("END;")


def test_an_unterminated_statement_is_an_error() -> None:
    with pytest.raises(ValueError, match="incomplete"):
        split_sqlite_script("CREATE TABLE t (a TEXT)")


def test_index_diff_names_only_removed_and_added_rows() -> None:
    old = IndexRows(
        string=[StringRow("family", "kiehn", "Kiehn")],
        token=[TokenRow("gender", None, "female"), TokenRow("active", None, "true")],
    )
    new = IndexRows(
        string=[StringRow("family", "kiehn", "Kiehn")],
        token=[TokenRow("gender", None, "female"), TokenRow("active", None, "false")],
    )

    diffs = diff_index(index_sets(old), index_sets(new))

    assert [(d.table.name, d.removed, d.added) for d in diffs] == [
        ("idx_token", [("active", None, "true", None)], [("active", None, "false", None)])
    ]
    gone = diff_index(index_sets(new), index_sets(None))  # a delete
    assert {d.table.name: (len(d.removed), d.added) for d in gone} == {
        "idx_string": (1, []),
        "idx_token": (2, []),
    }


@pytest.mark.parametrize(
    ("url", "path"),
    [
        ("sqlite:///./wardbook.db", "./wardbook.db"),
        ("sqlite:///var/wardbook.db", "var/wardbook.db"),
        ("sqlite:////srv/wardbook/wardbook.db", "/srv/wardbook/wardbook.db"),
        ("sqlite:///:memory:", ":memory:"),
    ],
)
def test_sqlite_urls_name_a_file_or_memory(url: str, path: str) -> None:
    repository = open_repository(url)

    assert isinstance(repository, SqliteRepository) and repository.path == path


def test_postgres_urls_keep_driver_options_and_take_pool_options() -> None:
    repository = open_repository(
        "postgres://app:secret@db.internal:5433/wardbook?sslmode=require&pool_max_size=25"
    )

    assert isinstance(repository, PostgresRepository)
    assert repository.dsn == "postgresql://app:secret@db.internal:5433/wardbook?sslmode=require"
    assert repository._max_size == 25
    assert open_repository("postgresql://h/db", pool_max_size=3)._max_size == 3  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "url", ["mysql://app:secret@h/db", "sqlite://relative.db", "sqlite:///", "wardbook.db"]
)
def test_other_urls_are_refused_without_leaking_the_password(url: str) -> None:
    with pytest.raises(UnsupportedDatabaseUrl) as raised:
        open_repository(url)

    assert "secret" not in str(raised.value)
