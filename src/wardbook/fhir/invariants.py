"""Invariants of R4 checked in plain Python (no FHIRPath on the write path).

A hand-picked set of the ``constraint`` rules of the core StructureDefinitions: those a
server relies on (Bundle: R4 bundle.html#invariants), the datatype ones (Attachment, Ratio,
Range, Timing) and some that real data gets wrong. Each check reads one resource's or
datatype's JSON, already structurally validated, and reports through
``report.error("invariant", "<key>: <human text>", expression)``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from wardbook.errors import ValidationReport

Check = Callable[[dict[str, Any], str, ValidationReport], None]


def _entries(bundle: dict[str, Any]) -> list[tuple[int, dict[str, Any]]]:
    entries = bundle.get("entry")
    if not isinstance(entries, list):
        return []
    return [(i, e) for i, e in enumerate(entries) if isinstance(e, dict)]


def check_bundle(bundle: dict[str, Any], path: str, report: ValidationReport) -> None:
    """R4 Bundle invariants bdl-1 .. bdl-12 (bundle.html#invariants)."""
    btype = bundle.get("type")
    entries = _entries(bundle)
    if "total" in bundle and btype not in ("searchset", "history"):
        report.error("invariant", "bdl-1: total only when a search or history", f"{path}.total")
    needs_request = btype in ("batch", "transaction", "history")
    needs_response = btype in ("batch-response", "transaction-response", "history")
    seen: dict[tuple[str, Any], int] = {}
    for i, entry in entries:
        here = f"{path}.entry[{i}]"
        if "search" in entry and btype != "searchset":
            report.error("invariant", "bdl-2: entry.search only when a search", f"{here}.search")
        if ("request" in entry) != needs_request:
            report.error(
                "invariant",
                "bdl-3: entry.request mandatory for batch/transaction/history, "
                "otherwise prohibited",
                f"{here}.request" if "request" in entry else here,
            )
        if ("response" in entry) != needs_response:
            report.error(
                "invariant",
                "bdl-4: entry.response mandatory for batch-response/transaction-response/"
                "history, otherwise prohibited",
                f"{here}.response" if "response" in entry else here,
            )
        if not ("resource" in entry or "request" in entry or "response" in entry):
            report.error(
                "invariant",
                "bdl-5: must be a resource unless there's a request or response",
                here,
            )
        full_url = entry.get("fullUrl")
        if isinstance(full_url, str):
            if "/_history/" in full_url:
                report.error(
                    "invariant",
                    "bdl-8: fullUrl cannot be a version specific reference",
                    f"{here}.fullUrl",
                )
            resource = entry.get("resource")
            meta = resource.get("meta") if isinstance(resource, dict) else None
            version = meta.get("versionId") if isinstance(meta, dict) else None
            key = (full_url, version)
            if btype != "history" and key in seen:
                report.error(
                    "invariant",
                    "bdl-7: fullUrl must be unique in a bundle, or else entries with the "
                    "same fullUrl must have different meta.versionId",
                    f"{here}.fullUrl",
                )
            seen.setdefault(key, i)
    if btype == "document":
        _check_document(bundle, entries, path, report)
    if btype == "message":
        first = _first_resource_type(entries)
        if first != "MessageHeader":
            report.error(
                "invariant",
                "bdl-12: a message must have a MessageHeader as the first resource",
                f"{path}.entry[0]" if entries else path,
            )


def _first_resource_type(entries: list[tuple[int, dict[str, Any]]]) -> str | None:
    if not entries or entries[0][0] != 0:
        return None
    resource = entries[0][1].get("resource")
    return resource.get("resourceType") if isinstance(resource, dict) else None


def _check_document(
    bundle: dict[str, Any],
    entries: list[tuple[int, dict[str, Any]]],
    path: str,
    report: ValidationReport,
) -> None:
    identifier = bundle.get("identifier")
    if not (isinstance(identifier, dict) and "system" in identifier and "value" in identifier):
        report.error(
            "invariant",
            "bdl-9: a document must have an identifier with a system and a value",
            f"{path}.identifier" if identifier is not None else path,
        )
    if not isinstance(bundle.get("timestamp"), str):
        report.error("invariant", "bdl-10: a document must have a date", path)
    if _first_resource_type(entries) != "Composition":
        report.error(
            "invariant",
            "bdl-11: a document must have a Composition as the first resource",
            f"{path}.entry[0]" if entries else path,
        )


def check_patient(patient: dict[str, Any], path: str, report: ValidationReport) -> None:
    """pat-1: a contact has details (name, telecom, address) or an organization."""
    contacts = patient.get("contact")
    if not isinstance(contacts, list):
        return
    for i, contact in enumerate(contacts):
        if isinstance(contact, dict) and not any(
            k in contact for k in ("name", "telecom", "address", "organization")
        ):
            report.error(
                "invariant",
                "pat-1: SHALL at least contain a contact's details or a reference to an "
                "organization",
                f"{path}.contact[{i}]",
            )


def _has_value(element: dict[str, Any]) -> bool:
    return any(k.startswith(("value", "_value")) for k in element)


def check_observation(obs: dict[str, Any], path: str, report: ValidationReport) -> None:
    """obs-6, obs-7 and obs-3 of R4 observation.html#invariants."""
    if "dataAbsentReason" in obs and _has_value(obs):
        report.error(
            "invariant",
            "obs-6: dataAbsentReason SHALL only be present if Observation.value[x] is not present",
            f"{path}.dataAbsentReason",
        )
    code = obs.get("code")
    own_codings = code.get("coding") if isinstance(code, dict) else None
    components = obs.get("component")
    if _has_value(obs) and isinstance(own_codings, list) and isinstance(components, list):
        for i, component in enumerate(components):
            ccode = component.get("code") if isinstance(component, dict) else None
            codings = ccode.get("coding") if isinstance(ccode, dict) else None
            if isinstance(codings, list) and any(c in own_codings for c in codings):
                report.error(
                    "invariant",
                    "obs-7: if Observation.code is the same as an Observation.component.code "
                    "then the value element associated with the code SHALL NOT be present",
                    f"{path}.component[{i}].code",
                )
    ranges = obs.get("referenceRange")
    if isinstance(ranges, list):
        for i, rng in enumerate(ranges):
            if isinstance(rng, dict) and not any(k in rng for k in ("low", "high", "text")):
                report.error(
                    "invariant",
                    "obs-3: must have at least a low or a high or text",
                    f"{path}.referenceRange[{i}]",
                )


# --- datatypes (R4 datatypes.html, invariants of Attachment, Ratio, Range, Timing) ----------


def check_attachment(value: dict[str, Any], path: str, report: ValidationReport) -> None:
    """att-1: if the Attachment has data, it SHALL have a contentType."""
    if "data" in value and "contentType" not in value:
        report.error(
            "invariant", "att-1: if the Attachment has data, it SHALL have a contentType", path
        )


def check_ratio(value: dict[str, Any], path: str, report: ValidationReport) -> None:
    """rat-1: numerator and denominator SHALL both be present, or both absent (extension)."""
    has_num, has_den = "numerator" in value, "denominator" in value
    if has_num != has_den or not (has_num or "extension" in value):
        report.error(
            "invariant",
            "rat-1: numerator and denominator SHALL both be present, or both are absent. "
            "If both are absent, there SHALL be some extension present",
            path,
        )


def _comparable_quantities(low: Any, high: Any) -> tuple[float, float] | None:
    if not (isinstance(low, dict) and isinstance(high, dict)):
        return None
    a, b = low.get("value"), high.get("value")
    if not (isinstance(a, int | float) and isinstance(b, int | float)):
        return None
    if isinstance(a, bool) or isinstance(b, bool):
        return None
    same_unit = (low.get("system"), low.get("code")) == (high.get("system"), high.get("code"))
    if not same_unit or ("code" not in low and low.get("unit") != high.get("unit")):
        return None
    return float(a), float(b)


def check_range(value: dict[str, Any], path: str, report: ValidationReport) -> None:
    """rng-2: if present, low SHALL have a lower value than high (in the same unit)."""
    pair = _comparable_quantities(value.get("low"), value.get("high"))
    if pair is not None and pair[0] > pair[1]:
        report.error("invariant", "rng-2: if present, low SHALL have a lower value than high", path)


_NO_OFFSET_WHEN = frozenset({"C", "CM", "CD", "CV"})


def check_timing(value: dict[str, Any], path: str, report: ValidationReport) -> None:
    """tim-1, tim-2, tim-4 .. tim-10 on Timing.repeat."""
    repeat = value.get("repeat")
    if not isinstance(repeat, dict):
        return
    here = f"{path}.repeat"
    rules = (
        ("tim-1", "if there's a duration, there needs to be duration units",
         "duration" not in repeat or "durationUnit" in repeat),
        ("tim-2", "if there's a period, there needs to be period units",
         "period" not in repeat or "periodUnit" in repeat),
        ("tim-4", "duration SHALL be a non-negative value", _non_negative(repeat.get("duration"))),
        ("tim-5", "period SHALL be a non-negative value", _non_negative(repeat.get("period"))),
        ("tim-6", "if there's a periodMax, there must be a period",
         "periodMax" not in repeat or "period" in repeat),
        ("tim-7", "if there's a durationMax, there must be a duration",
         "durationMax" not in repeat or "duration" in repeat),
        ("tim-8", "if there's a countMax, there must be a count",
         "countMax" not in repeat or "count" in repeat),
        ("tim-9", "if there's an offset, there must be a when (and not C, CM, CD, CV)",
         "offset" not in repeat or _offset_when_ok(repeat.get("when"))),
        ("tim-10", "if there's a timeOfDay, there cannot be a when, or vice versa",
         "timeOfDay" not in repeat or "when" not in repeat),
    )  # fmt: skip
    for key, human, ok in rules:
        if not ok:
            report.error("invariant", f"{key}: {human}", here)


def _non_negative(number: Any) -> bool:
    return not isinstance(number, int | float) or isinstance(number, bool) or number >= 0


def _offset_when_ok(when: Any) -> bool:
    if not isinstance(when, list) or not when:
        return False
    return not any(w in _NO_OFFSET_WHEN for w in when if isinstance(w, str))


DATATYPE_CHECKS: dict[str, Check] = {
    "Attachment": check_attachment,
    "Ratio": check_ratio,
    "Range": check_range,
    "Timing": check_timing,
}


RESOURCE_CHECKS: dict[str, Check] = {
    "Bundle": check_bundle,
    "Patient": check_patient,
    "Observation": check_observation,
}


def check_resource(
    resource: dict[str, Any], resource_type: str, path: str, report: ValidationReport
) -> None:
    """Run the invariants defined for ``resource_type``, if any."""
    check = RESOURCE_CHECKS.get(resource_type)
    if check is not None:
        check(resource, path, report)
