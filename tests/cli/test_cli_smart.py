"""``wardbook client add|list|remove`` and ``wardbook token`` as an operator runs them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from joserfc import jwt
from joserfc.jwk import ECKey, KeySet

from wardbook.cli import main


@pytest.fixture
def database(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path}/smart.db"
    assert main(["migrate", "--database", url]) == 0
    return url


def test_client_lifecycle(
    database: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    assert (
        main(
            [
                "client",
                "add",
                "--database",
                database,
                "--client-id",
                "chart",
                "--type",
                "public",
                "--redirect-uri",
                "https://chart.example/cb",
                "--redirect-uri",
                "https://chart.example/cb2",
            ]
        )
        == 0
    )
    assert capsys.readouterr().out == "client_id: chart\n"
    assert (
        main(
            [
                "client",
                "add",
                "--database",
                database,
                "--client-id",
                "billing",
                "--type",
                "confidential",
                "--redirect-uri",
                "https://billing.example/cb",
                "--scope",
                "user/*.rs",
                "--name",
                "Billing service",
            ]
        )
        == 0
    )
    out = capsys.readouterr()
    assert "client_secret: " in out.out and "not shown again" in out.err
    key = ECKey.generate_key("P-384", private=True)
    jwks = tmp_path / "keys.json"
    jwks.write_text(json.dumps({"keys": [key.as_dict(private=False)]}))
    assert (
        main(
            [
                "client",
                "add",
                "--database",
                database,
                "--client-id",
                "exporter",
                "--type",
                "backend",
                "--jwks",
                str(jwks),
                "--scope",
                "system/*.rs",
            ]
        )
        == 0
    )
    capsys.readouterr()
    # a private key, a duplicate id and a backend without keys are refused with one line
    jwks.write_text(json.dumps({"keys": [key.as_dict(private=True)]}))
    assert (
        main(
            [
                "client",
                "add",
                "--database",
                database,
                "--client-id",
                "leaky",
                "--type",
                "backend",
                "--jwks",
                str(jwks),
            ]
        )
        == 1
    )
    assert "private key" in capsys.readouterr().err
    assert (
        main(
            [
                "client",
                "add",
                "--database",
                database,
                "--client-id",
                "chart",
                "--type",
                "public",
                "--redirect-uri",
                "https://x.example/cb",
            ]
        )
        == 1
    )
    assert "already registered" in capsys.readouterr().err
    assert main(["client", "list", "--database", database]) == 0
    listed = capsys.readouterr().out.splitlines()
    assert [line.split("\t")[:2] for line in listed] == [
        ["billing", "confidential"],
        ["chart", "public"],
        ["exporter", "backend"],
    ]
    # the name is for people (consent and admin pages); the list's columns stay as they were
    assert all(len(line.split("\t")) == 4 for line in listed)
    assert main(["client", "remove", "chart", "--database", database]) == 0
    assert main(["client", "remove", "chart", "--database", database]) == 1
    assert "no client" in capsys.readouterr().err


def test_token_prints_one_signed_jwt(database: str, capsys: pytest.CaptureFixture[str]) -> None:
    main(
        [
            "client",
            "add",
            "--database",
            database,
            "--client-id",
            "ops",
            "--type",
            "backend",
            "--jwks-uri",
            "https://ops.example/jwks.json",
        ]
    )
    capsys.readouterr()
    assert (
        main(
            [
                "token",
                "--database",
                database,
                "--client-id",
                "ops",
                "--scope",
                "system/*.rs",
                "--expires-in",
                "120",
            ]
        )
        == 0
    )
    token = capsys.readouterr().out.strip()
    assert token.count(".") == 2 and "\n" not in token
    import asyncio

    from wardbook.auth.smart import SmartAuth
    from wardbook.config import Settings
    from wardbook.storage.factory import open_repository

    async def keys() -> KeySet:
        repository = open_repository(database)
        await repository.open()
        try:
            return KeySet.import_key_set(await SmartAuth(repository, Settings()).keys.jwks())
        finally:
            await repository.close()

    claims = jwt.decode(token, asyncio.run(keys())).claims
    assert claims["client_id"] == "ops" and claims["scope"] == "system/*.rs"
    assert claims["exp"] - claims["iat"] == 120
    for bad, message in (
        (["--client-id", "nobody", "--scope", "system/*.rs"], "no client"),
        (["--client-id", "ops", "--scope", "patient/*.rs"], "--patient"),
        (["--client-id", "ops", "--scope", "system/Nope.rs"], "not a FHIR R4 resource type"),
        (["--client-id", "ops", "--scope", "system/*.rs", "--user", "ghost"], "no user"),
        (
            ["--client-id", "ops", "--scope", "system/*.rs", "--patient", "missing"],
            "does not exist",
        ),
    ):
        assert main(["token", "--database", database, *bad]) == 1
        assert message in capsys.readouterr().err
