"""``$meta``, ``$meta-add`` and ``$meta-delete`` (R4 resource-operation-meta*.html).

``$meta`` at system and type level lists the tags, security labels and profiles in use (from
the ``_tag``/``_security``/``_profile`` index rows of current resources); at instance (or
version) level it is that version's ``meta``. ``$meta-add``/``$meta-delete`` change a
version's ``meta`` in place -- "executing this operation does not cause a new version of
the resource to be created" -- and re-index it when it is the current version. Tags and
labels are identified by system + code, profiles by URL.
"""

from __future__ import annotations

from typing import Any, Literal

from wardbook.errors import BadRequest, Gone, NotFound
from wardbook.fhir import jsonio
from wardbook.search.extract import extract_index
from wardbook.service.resources import ResourceService, check_id, check_type, require_valid
from wardbook.storage.base import StoredResource, WriteTx

MetaChange = Literal["add", "delete"]
_MAX_VERSION = 2**31 - 1


async def summary(resources: ResourceService, resource_type: str | None) -> dict[str, Any]:
    """The Meta of everything in use (system level) or in use by one type."""
    if resource_type is not None:
        check_type(resource_type)
    found = await resources.repository.meta_summary(resource_type)
    meta: dict[str, Any] = {}
    if found.profiles:
        meta["profile"] = found.profiles
    if found.security:
        meta["security"] = [_coding(s, c) for s, c in found.security]
    if found.tags:
        meta["tag"] = [_coding(s, c) for s, c in found.tags]
    return meta


async def instance_meta(
    resources: ResourceService, resource_type: str, resource_id: str, version: str | None
) -> dict[str, Any]:
    """The meta of the current version (or of ``version``)."""
    if version is None:
        stored = await resources.read(resource_type, resource_id)
    else:
        stored = await resources.vread(resource_type, resource_id, version)
    return _meta_of(stored)


def parse_meta_parameter(body: Any) -> dict[str, Any]:
    """The ``meta`` (type Meta) of a Parameters body."""
    if not isinstance(body, dict) or body.get("resourceType") != "Parameters":
        raise BadRequest("$meta-add and $meta-delete take a Parameters resource")
    for parameter in body.get("parameter") or []:
        if isinstance(parameter, dict) and parameter.get("name") == "meta":
            meta = parameter.get("valueMeta")
            if not isinstance(meta, dict):
                raise BadRequest("The 'meta' parameter needs a valueMeta")
            return meta
    raise BadRequest("$meta-add and $meta-delete need a 'meta' parameter")


async def change_meta(
    resources: ResourceService,
    change: MetaChange,
    resource_type: str,
    resource_id: str,
    version: str | None,
    meta: dict[str, Any],
) -> dict[str, Any]:
    """Add or delete profiles, tags and security labels on one version, in place."""
    check_type(resource_type)
    check_id(resource_id, resource_type)
    if version is not None and (not version.isdigit() or int(version) > _MAX_VERSION):
        raise NotFound(f"Version '{version}' of {resource_type}/{resource_id} is not known")
    _check_meta_input(meta)

    async def run(tx: WriteTx) -> dict[str, Any]:
        current = await tx.current(resource_type, resource_id)
        if current is None:
            raise NotFound(f"{resource_type}/{resource_id} is not known")
        number = current.version if version is None else int(version)
        target: StoredResource | None = current
        if number != current.version:
            target = await resources.repository.vread(resource_type, resource_id, number)
        if target is None:
            raise NotFound(f"Version {number} of {resource_type}/{resource_id} is not known")
        if target.deleted or target.body is None:
            raise Gone(f"Version {number} of {resource_type}/{resource_id} is a deletion")
        resource = jsonio.loads(target.body)
        changed = _merged(resource.get("meta") or {}, meta, change)
        resource["meta"] = changed
        resource = require_valid(resource, resource_type)
        is_current = number == current.version
        index = extract_index(resource) if is_current else None
        await tx.replace_body(resource_type, resource_id, number, jsonio.dumps(resource), index)
        return changed

    return await resources.in_transaction(run)


def _merged(old: dict[str, Any], given: dict[str, Any], change: MetaChange) -> dict[str, Any]:
    meta = dict(old)
    profiles = [p for p in meta.get("profile") or [] if isinstance(p, str)]
    wanted = [p for p in given.get("profile") or [] if isinstance(p, str)]
    if change == "add":
        profiles += [p for p in wanted if p not in profiles]
    else:
        profiles = [p for p in profiles if p not in wanted]
    _set(meta, "profile", profiles)
    for key in ("security", "tag"):
        codings = [c for c in meta.get(key) or [] if isinstance(c, dict)]
        keys = {_identity(c) for c in given.get(key) or [] if isinstance(c, dict)}
        if change == "add":
            present = {_identity(c) for c in codings}
            for coding in given.get(key) or []:
                if isinstance(coding, dict) and _identity(coding) not in present:
                    codings.append(coding)
                    present.add(_identity(coding))
        else:
            codings = [c for c in codings if _identity(c) not in keys]
        _set(meta, key, codings)
    return meta


def _check_meta_input(meta: dict[str, Any]) -> None:
    for key in meta:
        if key not in ("profile", "security", "tag", "extension", "id"):
            raise BadRequest(f"$meta-add/$meta-delete change profile, security and tag, not {key}")
    profiles = meta.get("profile", [])
    if not isinstance(profiles, list) or not all(isinstance(p, str) for p in profiles):
        raise BadRequest("meta.profile must be a list of canonical URLs")
    for key in ("security", "tag"):
        codings = meta.get(key, [])
        if not isinstance(codings, list) or not all(isinstance(c, dict) for c in codings):
            raise BadRequest(f"meta.{key} must be a list of Codings")


def _set(meta: dict[str, Any], key: str, values: list[Any]) -> None:
    if values:
        meta[key] = values
    else:
        meta.pop(key, None)


def _identity(coding: dict[str, Any]) -> tuple[Any, Any]:
    """Tags and labels are the same when system and code are (version, display ignored)."""
    return coding.get("system"), coding.get("code")


def _coding(system: str | None, code: str | None) -> dict[str, str]:
    out = {}
    if system is not None:
        out["system"] = system
    if code is not None:
        out["code"] = code
    return out


def _meta_of(stored: StoredResource) -> dict[str, Any]:
    if stored.body is None:
        raise RuntimeError("internal error: stored.body is missing")
    meta = jsonio.loads(stored.body).get("meta")
    return dict(meta) if isinstance(meta, dict) else {}
