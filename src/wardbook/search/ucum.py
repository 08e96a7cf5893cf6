"""A small UCUM canonicalisation table for quantity search (R4 search.html#quantity).

"The server SHOULD ... canonicalize quantities" so that ``5.4|http://unitsofmeasure.org|g``
finds a value recorded as ``5400 mg``. Full UCUM is a grammar; this covers the units that
clinical data (Synthea, lab panels, vital signs) actually uses. Unknown units simply have no
canonical form and match only on their own system and code.
"""

from __future__ import annotations

UCUM_SYSTEM = "http://unitsofmeasure.org"

# code -> (canonical code, factor, offset): canonical = value * factor + offset
_UNITS: dict[str, tuple[str, float, float]] = {}


def _add(canonical: str, factor: float, *codes: str, offset: float = 0.0) -> None:
    for code in codes:
        _UNITS[code] = (canonical, factor, offset)


# mass -> g
_add("g", 1.0, "g", "gm")
_add("g", 1e-3, "mg")
_add("g", 1e-6, "ug", "mcg")
_add("g", 1e-9, "ng")
_add("g", 1e-12, "pg")
_add("g", 1e3, "kg")
_add("g", 453.59237, "[lb_av]", "lb")
_add("g", 28.349523125, "[oz_av]", "oz")
# volume -> L
_add("L", 1.0, "L", "l")
_add("L", 1e-1, "dL", "dl")
_add("L", 1e-3, "mL", "ml")
_add("L", 1e-6, "uL", "ul")
_add("L", 1e-15, "fL", "fl")
# length -> m
_add("m", 1.0, "m")
_add("m", 1e-2, "cm")
_add("m", 1e-3, "mm")
_add("m", 1e-6, "um")
_add("m", 1e3, "km")
_add("m", 0.0254, "[in_i]", "[in_us]")
_add("m", 0.3048, "[ft_i]")
_add("m", 0.9144, "[yd_i]")
_add("m", 1609.344, "[mi_i]")  # international mile (Location?near distances)
_add("m", 1852.0, "[nmi_i]")
# temperature -> K
_add("K", 1.0, "K")
_add("K", 1.0, "Cel", offset=273.15)
_add("K", 5.0 / 9.0, "[degF]", offset=273.15 - 32.0 * 5.0 / 9.0)
# time -> s
_add("s", 1.0, "s")
_add("s", 1e-3, "ms")
_add("s", 60.0, "min")
_add("s", 3600.0, "h")
_add("s", 86400.0, "d")
_add("s", 604800.0, "wk")
_add("s", 2629800.0, "mo")  # UCUM mean Julian month, 30.4375 d
_add("s", 31557600.0, "a")  # UCUM mean Julian year, 365.25 d
# rates -> /s
_add("/s", 1.0, "/s")
_add("/s", 1.0 / 60.0, "/min", "{beats}/min", "{breaths}/min")
_add("/s", 1.0 / 3600.0, "/h")
# pressure -> Pa
_add("Pa", 1.0, "Pa")
_add("Pa", 1e3, "kPa")
_add("Pa", 133.322387415, "mm[Hg]")
_add("Pa", 98.0665, "cm[H2O]")
# dimensionless
_add("1", 1.0, "1")
_add("1", 1e-2, "%")
# substance concentration -> mol/L
_add("mol/L", 1.0, "mol/L")
_add("mol/L", 1e-3, "mmol/L")
_add("mol/L", 1e-6, "umol/L")
_add("mol/L", 1e-9, "nmol/L")
_add("mol/L", 1e-12, "pmol/L")
# mass concentration -> g/L
_add("g/L", 1.0, "g/L")
_add("g/L", 10.0, "g/dL")
_add("g/L", 1e-3, "mg/L")
_add("g/L", 1e-2, "mg/dL")
_add("g/L", 1e-6, "ug/L")
_add("g/L", 1e-3, "ug/mL")
_add("g/L", 1e-5, "ug/dL")
_add("g/L", 1e-6, "ng/mL")
_add("g/L", 1e-9, "pg/mL")
# number concentration -> /L
_add("/L", 1.0, "/L")
_add("/L", 1e3, "/mL")
_add("/L", 1e6, "/uL")
_add("/L", 1e9, "10*3/uL", "10*9/L", "10^3/uL")
_add("/L", 1e12, "10*6/uL", "10*12/L", "10^6/uL")
# body mass index, area
_add("g/m2", 1e3, "kg/m2")
_add("g/m2", 1.0, "g/m2")
_add("m2", 1.0, "m2")
_add("m2", 1e-4, "cm2")


def _round(value: float) -> float:
    # Conversion factors are inexact binary floats: 5400 * 1e-3 is 5.4000000000000004, which
    # would make le5.4 miss 5400 mg. Twelve significant digits absorb that noise.
    return float(f"{value:.12g}")


def canonical_unit(code: str) -> str | None:
    """The canonical UCUM code ``code`` converts to, or None when it is not in the table."""
    entry = _UNITS.get(code)
    return entry[0] if entry else None


def to_canonical(value: float, code: str) -> tuple[float, str] | None:
    """``value`` in ``code`` converted to its canonical unit, or None when unknown."""
    entry = _UNITS.get(code)
    if entry is None:
        return None
    canonical, factor, offset = entry
    return _round(value * factor + offset), canonical


def scale_to_canonical(delta: float, code: str) -> float | None:
    """A difference (not a point) in ``code`` expressed in the canonical unit."""
    entry = _UNITS.get(code)
    return None if entry is None else abs(delta * entry[1])
