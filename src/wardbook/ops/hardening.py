"""Security headers on every response, and rate limiting per client and per IP address.

Headers (ASVS 5.0 V3.4): a strict Content-Security-Policy without inline script
(``script-src 'self'``), ``frame-ancestors 'none'``, HSTS (sent on HTTPS deployments),
``X-Content-Type-Options: nosniff``, ``Referrer-Policy: no-referrer`` and a restrictive
Permissions-Policy. Responses that already set a header keep theirs.

Rate limiting: a fixed one-minute window per key -- the SMART client id when the request
carries a bearer token from one (``Principal.client_id`` is bound later, so the token's
``client_id`` claim is not trusted here: the key is a hash of the bearer token), and the
IP address always. Counters live in memory by default (per worker process) or in Redis
when ``WARDBOOK_REDIS_URL`` is set (shared by every worker and replica). Over the limit:
429 with ``Retry-After``; on /fhir the body is an OperationOutcome (code ``throttled``).
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections import OrderedDict
from typing import Any, Protocol

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from wardbook.config import Settings, is_loopback

log = logging.getLogger("wardbook.security")

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:;"
    " font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none';"
    " form-action 'self'; frame-ancestors 'none'"
)
_BASE_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=(), payment=()"),
    (b"cross-origin-opener-policy", b"same-origin"),
)
HSTS = (b"strict-transport-security", b"max-age=63072000; includeSubDomains")


class SecurityHeadersMiddleware:
    """Adds the security headers to every HTTP response."""

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        https = (settings.public_url or "").startswith("https://") or settings.tls_terminated
        self.headers = (*_BASE_HEADERS, HSTS) if https or settings.is_production else _BASE_HEADERS

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        extra = self.headers
        if scope.get("scheme") == "https" and HSTS not in extra:
            extra = (*extra, HSTS)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers") or ())
                present = {name for name, _ in headers}
                headers.extend(item for item in extra if item[0] not in present)
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)


class Counter(Protocol):
    async def hit(self, key: str, window: int) -> int:
        """Count one request for ``key`` in the current window; returns the count so far."""


class MemoryCounter:
    """Per-process fixed-window counters, bounded in size."""

    def __init__(self, max_keys: int = 100_000) -> None:
        self._counts: OrderedDict[str, tuple[int, int]] = OrderedDict()
        self._max_keys = max_keys

    async def hit(self, key: str, window: int) -> int:
        current = self._counts.get(key)
        count = current[1] + 1 if current is not None and current[0] == window else 1
        self._counts[key] = (window, count)
        self._counts.move_to_end(key)
        while len(self._counts) > self._max_keys:
            self._counts.popitem(last=False)
        return count


class RedisCounter:
    """Fixed-window counters in Redis (INCR + EXPIRE), shared across processes."""

    def __init__(self, url: str) -> None:
        from redis.asyncio import Redis

        self._redis: Any = Redis.from_url(url)

    async def hit(self, key: str, window: int) -> int:
        name = f"wardbook:rl:{window}:{key}"
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.incr(name)
            pipe.expire(name, 120)
            count, _ = await pipe.execute()
        return int(count)

    async def close(self) -> None:
        await self._redis.aclose()


def _header(scope: Scope, wanted: bytes) -> bytes | None:
    for name, value in scope.get("headers") or ():
        if name == wanted:
            return bytes(value)
    return None


_THROTTLED = (
    b'{"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"throttled",'
    b'"diagnostics":"Too many requests: slow down and retry after the time in Retry-After"}]}'
)


class RateLimitMiddleware:
    """429 with Retry-After past ``limit`` requests a minute per client and per IP."""

    def __init__(self, app: ASGIApp, settings: Settings, counter: Counter | None = None) -> None:
        self.app = app
        self.limit = settings.rate_limit_per_minute
        # Development and tests on one machine (benchmarks, load drills) come from loopback;
        # production counts every address, since a local proxy must forward real ones.
        self.exempt_loopback = not settings.is_production
        if counter is not None:
            self.counter: Counter = counter
        elif settings.redis_url:
            self.counter = RedisCounter(settings.redis_url)
        else:
            self.counter = MemoryCounter()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self.limit <= 0 or scope["path"] in ("/livez", "/readyz"):
            await self.app(scope, receive, send)
            return
        now = time.time()
        window = int(now // 60)
        keys = []
        client = scope.get("client")
        if client:
            if self.exempt_loopback and is_loopback(str(client[0])):
                await self.app(scope, receive, send)
                return
            keys.append(f"ip:{client[0]}")
        auth = _header(scope, b"authorization")
        if auth and auth[:7].lower() == b"bearer ":
            keys.append("tok:" + hashlib.sha256(auth[7:].strip()).hexdigest()[:32])
        try:
            over = False
            for key in keys:
                if await self.counter.hit(key, window) > self.limit:
                    over = True
        except Exception:  # a Redis outage must not take the API down: fail open, loudly
            log.warning("rate limiter unavailable; request not counted")
            over = False
        if not over:
            await self.app(scope, receive, send)
            return
        retry = str(max(1, 60 - int(now % 60)))
        is_fhir = scope["path"] == "/fhir" or scope["path"].startswith("/fhir/")
        body = _THROTTLED if is_fhir else b"Too many requests"
        content_type = b"application/fhir+json" if is_fhir else b"text/plain; charset=utf-8"
        await send(
            {
                "type": "http.response.start",
                "status": 429,
                "headers": [
                    (b"content-type", content_type),
                    (b"retry-after", retry.encode()),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
