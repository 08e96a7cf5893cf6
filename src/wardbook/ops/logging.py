"""Structured logs: one JSON object per line on stdout, with a request id and no PHI.

Only method, path template-free path, status and timing are logged for requests; bodies,
query strings (which can hold names and identifiers) and headers never are.
"""

from __future__ import annotations

import contextvars
import itertools
import logging
import sys
import time
import uuid
from typing import Any

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from wardbook.ops import metrics

request_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "request_id", default=None
)
access_log = logging.getLogger("wardbook.access")


class JsonFormatter(logging.Formatter):
    """Formats a record as one JSON line."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": self.formatTime(record, "%Y-%m-%dT%H:%M:%S") + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        request_id = getattr(record, "request_id", None) or request_id_var.get()
        if request_id:
            out["request_id"] = request_id
        for key in ("method", "path", "status", "duration_ms"):
            value = getattr(record, key, None)
            if value is not None:
                out[key] = value
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return orjson.dumps(out).decode()


def logging_config(level: str = "info") -> dict[str, Any]:
    """A logging.dictConfig for Wardbook and the HTTP server: everything as JSON lines."""
    handler = {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stdout"}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": "wardbook.ops.logging.JsonFormatter"}},
        "handlers": {"stdout": handler},
        "root": {"level": level.upper(), "handlers": ["stdout"]},
        "loggers": {
            "_granian": {"level": level.upper(), "handlers": ["stdout"], "propagate": False},
            "granian.access": {"level": "WARNING", "handlers": ["stdout"], "propagate": False},
        },
    }


def configure(level: str = "info") -> None:
    import logging.config

    # Our JSON lines carry neither process nor thread; skip a getpid() syscall per record.
    logging.logProcesses = False
    logging.logThreads = False
    logging.logMultiprocessing = False

    logging.config.dictConfig(logging_config(level))
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]


_ID_PREFIX = uuid.uuid4().hex[:16]
_id_counter = itertools.count(1)


def next_request_id() -> str:
    """A unique request id: a random per-process prefix and a counter (no syscall)."""
    return f"{_ID_PREFIX}{next(_id_counter):016x}"


class RequestIdMiddleware:
    """Gives every request an id (``X-Request-ID`` in and out) and writes one access line."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = dict(scope.get("headers") or ()).get(b"x-request-id", b"").decode("latin-1")
        request_id = incoming if 0 < len(incoming) <= 64 else next_request_id()
        token = request_id_var.set(request_id)
        started = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = list(message.get("headers") or [])
                headers.append((b"x-request-id", request_id.encode("latin-1")))
                message["headers"] = headers
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            elapsed = time.perf_counter() - started
            metrics.observe_request(scope, status, elapsed)
            if access_log.isEnabledFor(logging.INFO):
                # makeRecord + handle: the same record as .info() without its stack walk
                # (findCaller), which cost more than the rest of the line on hot paths.
                record = access_log.makeRecord(
                    access_log.name,
                    logging.INFO,
                    __file__,
                    0,
                    "request",
                    (),
                    None,
                    extra={
                        "method": scope.get("method"),
                        "path": scope.get("path"),
                        "status": status,
                        "duration_ms": round(elapsed * 1000, 2),
                    },
                )
                access_log.handle(record)
            request_id_var.reset(token)
