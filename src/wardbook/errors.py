"""One exception tree for Wardbook.

Each error knows its HTTP status and the OperationOutcome issue code it maps to
(R4 operationoutcome.html, value set issue-type). The API renders them once, in
``wardbook.api.outcome``; the web app renders them once as error pages.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class Issue:
    """One OperationOutcome.issue: severity, code, human text and FHIRPath location."""

    severity: str  # fatal | error | warning | information
    code: str  # R4 issue-type code, e.g. invalid, structure, required, value, not-found
    diagnostics: str
    expression: tuple[str, ...] = ()

    def to_fhir(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "severity": self.severity,
            "code": self.code,
            "diagnostics": self.diagnostics,
        }
        if self.expression:
            out["expression"] = list(self.expression)
        return out


class WardbookError(Exception):
    """Base of every error Wardbook raises on purpose."""

    status: int = 500
    issue_code: str = "exception"

    def __init__(self, message: str, *, issues: list[Issue] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.issues = issues or [Issue("error", self.issue_code, message)]
        self.headers: dict[str, str] = {}

    def outcome(self) -> dict[str, Any]:
        """The OperationOutcome resource describing this error."""
        return operation_outcome(self.issues)


def operation_outcome(issues: list[Issue]) -> dict[str, Any]:
    """Build an R4 OperationOutcome from issues."""
    return {"resourceType": "OperationOutcome", "issue": [i.to_fhir() for i in issues]}


class BadRequest(WardbookError):
    """400: the request itself is malformed (syntax, parameters)."""

    status = 400
    issue_code = "invalid"


class InvalidResource(WardbookError):
    """400: the resource breaks FHIR's rules (structure, cardinality, values)."""

    status = 400
    issue_code = "invalid"


class Unprocessable(WardbookError):
    """422: well-formed, but fails business rules or profile validation."""

    status = 422
    issue_code = "processing"


class Unauthorized(WardbookError):
    status = 401
    issue_code = "login"

    def __init__(self, message: str, *, issues: list[Issue] | None = None) -> None:
        super().__init__(message, issues=issues)
        self.headers["WWW-Authenticate"] = 'Bearer realm="wardbook"'


class Forbidden(WardbookError):
    status = 403
    issue_code = "forbidden"


class NotFound(WardbookError):
    status = 404
    issue_code = "not-found"


class MethodNotAllowed(WardbookError):
    status = 405
    issue_code = "not-supported"


class NotAcceptable(WardbookError):
    status = 406
    issue_code = "not-supported"


class Conflict(WardbookError):
    """409: a version conflict or a uniqueness clash."""

    status = 409
    issue_code = "conflict"


class Gone(WardbookError):
    """410: the resource was deleted (R4 http.html#read)."""

    status = 410
    issue_code = "deleted"


class PreconditionFailed(WardbookError):
    """412: If-Match on a stale version, or a conditional matched several resources."""

    status = 412
    issue_code = "conflict"


class TooCostly(BadRequest):
    """400: a search the server refuses to run because of its size (R4 search.html#errors)."""

    issue_code = "too-costly"


class PayloadTooLarge(WardbookError):
    status = 413
    issue_code = "too-costly"


class UnsupportedMediaType(WardbookError):
    status = 415
    issue_code = "not-supported"


class TooManyRequests(WardbookError):
    status = 429
    issue_code = "throttled"


class ServiceUnavailable(WardbookError):
    """503: overloaded, timed out or the database is unreachable; carries Retry-After."""

    status = 503
    issue_code = "transient"

    def __init__(
        self, message: str, *, retry_after: int = 5, issues: list[Issue] | None = None
    ) -> None:
        super().__init__(message, issues=issues)
        self.headers["Retry-After"] = str(retry_after)


class NotModified(Exception):
    """304 for If-None-Match / If-Modified-Since: not an error, but ends the request early."""

    def __init__(self, etag: str, last_modified: str) -> None:
        super().__init__("not modified")
        self.etag = etag
        self.last_modified = last_modified


@dataclass(slots=True)
class ValidationReport:
    """All problems a validator found; empty ``issues`` of severity error means valid."""

    issues: list[Issue] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not any(i.severity in ("error", "fatal") for i in self.issues)

    def error(self, code: str, message: str, expression: str) -> None:
        self.issues.append(Issue("error", code, message, (expression,)))

    def warning(self, code: str, message: str, expression: str) -> None:
        self.issues.append(Issue("warning", code, message, (expression,)))
