"""An HTTP client on the real ASGI app, over each storage backend."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from wardbook.app import build_app
from wardbook.config import Settings
from wardbook.storage.base import Repository

BASE = "http://testserver/fhir"


@pytest.fixture
def settings() -> Settings:
    return Settings(env="test", no_auth=True)


@pytest.fixture
async def client(repository: Repository, settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    app = build_app(settings, repository)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url=BASE) as http:
        yield http
