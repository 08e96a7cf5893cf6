#!/usr/bin/env python3
"""Smoke test of a deployed Wardbook: the checks that say a release can take traffic.

Usage: smoke_test.py BASE_URL [--timeout SECONDS]

Waits (bounded) for /livez, then checks /readyz (database reachable, migrations current),
the FHIR CapabilityStatement at /fhir/metadata (public, FHIR R4 4.0.1, JSON), and that an
unknown resource id answers 404 with an OperationOutcome (the error path works, no 500).
Prints one line per check and exits non-zero on the first failure. Standard library only,
so the CI runner and an operator's laptop can run it as is.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import urllib.error
import urllib.request
import uuid
from typing import Any

USER_AGENT = "wardbook-smoke-test/1"


class SmokeFailure(Exception):
    """A check failed; the message says which and why."""


def fetch(url: str, accept: str = "application/json") -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(url, headers={"Accept": accept, "User-Agent": USER_AGENT})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def json_body(url: str, body: bytes) -> Any:
    try:
        return json.loads(body)
    except ValueError as error:
        raise SmokeFailure(f"{url}: body is not JSON ({body[:80]!r})") from error


def wait_for_liveness(base: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    last = "no answer"
    while time.monotonic() < deadline:
        try:
            status, _, _ = fetch(f"{base}/livez")
            if status == 200:
                return
            last = f"HTTP {status}"
        except (urllib.error.URLError, OSError) as error:
            last = str(error)
        time.sleep(1)
    raise SmokeFailure(f"/livez did not answer 200 within {timeout:.0f}s ({last})")


def check_ready(base: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        status, _, body = fetch(f"{base}/readyz")
        if status == 200 and json_body("/readyz", body).get("status") == "ready":
            return
        if time.monotonic() >= deadline:
            raise SmokeFailure(f"/readyz answered {status}: {body[:200]!r}")
        time.sleep(2)


def check_metadata(base: str) -> None:
    status, headers, body = fetch(f"{base}/fhir/metadata", "application/fhir+json")
    if status != 200:
        raise SmokeFailure(f"/fhir/metadata answered {status}")
    content_type = {k.lower(): v for k, v in headers.items()}.get("content-type", "")
    if "json" not in content_type:
        raise SmokeFailure(f"/fhir/metadata content type is {content_type!r}")
    statement = json_body("/fhir/metadata", body)
    if statement.get("resourceType") != "CapabilityStatement":
        raise SmokeFailure(f"/fhir/metadata is a {statement.get('resourceType')!r}")
    if statement.get("fhirVersion") != "4.0.1":
        raise SmokeFailure(f"/fhir/metadata fhirVersion is {statement.get('fhirVersion')!r}")


def check_not_found(base: str) -> None:
    url = f"{base}/fhir/Patient/smoke-{uuid.uuid4().hex[:16]}"
    status, _, body = fetch(url, "application/fhir+json")
    if status not in (401, 404):  # 401 where the server requires a token for reads
        raise SmokeFailure(f"GET an unknown Patient answered {status}, expected 404 (or 401)")
    if status == 404 and json_body(url, body).get("resourceType") != "OperationOutcome":
        raise SmokeFailure("a 404 came without an OperationOutcome")


def run(base: str, timeout: float) -> None:
    base = base.rstrip("/")
    checks = [
        ("live", lambda: wait_for_liveness(base, timeout)),
        ("ready", lambda: check_ready(base, timeout)),
        ("capability statement", lambda: check_metadata(base)),
        ("unknown resource is a clean 404", lambda: check_not_found(base)),
    ]
    for name, check in checks:
        check()
        print(f"smoke: ok   {name}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("base_url")
    parser.add_argument("--timeout", type=float, default=120.0)
    args = parser.parse_args(argv)
    try:
        run(args.base_url, args.timeout)
    except SmokeFailure as failure:
        print(f"smoke: FAIL {failure}", file=sys.stderr)
        return 1
    except (urllib.error.URLError, OSError) as error:
        print(f"smoke: FAIL {args.base_url} unreachable: {error}", file=sys.stderr)
        return 1
    print(f"smoke: {args.base_url} passed")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
