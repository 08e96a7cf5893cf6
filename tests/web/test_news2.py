"""NEWS2 scoring against the RCP 2017 chart: every band and both sides of every boundary."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from wardbook.web import news2
from wardbook.web.news2 import VitalSigns, score

NORMAL = VitalSigns(
    respiratory_rate=16,
    spo2=97,
    on_oxygen=False,
    systolic=120,
    heart_rate=70,
    consciousness="A",
    temperature=37.0,
)


@pytest.mark.parametrize(
    ("rate", "points"),
    [(4, 3), (8, 3), (9, 1), (11, 1), (12, 0), (20, 0), (21, 2), (24, 2), (25, 3), (40, 3)],
)
def test_respiratory_rate_bands(rate: float, points: int) -> None:
    assert news2.respiratory_rate_score(rate) == points


@pytest.mark.parametrize(
    ("spo2", "points"), [(85, 3), (91, 3), (92, 2), (93, 2), (94, 1), (95, 1), (96, 0), (100, 0)]
)
def test_spo2_scale_1_bands(spo2: float, points: int) -> None:
    assert news2.spo2_scale_1_score(spo2) == points


@pytest.mark.parametrize(
    ("spo2", "on_oxygen", "points"),
    [
        (83, False, 3),
        (84, False, 2),
        (85, True, 2),
        (86, False, 1),
        (87, True, 1),
        (88, True, 0),
        (92, True, 0),
        (93, False, 0),
        (100, False, 0),
        (93, True, 1),
        (94, True, 1),
        (95, True, 2),
        (96, True, 2),
        (97, True, 3),
    ],
)
def test_spo2_scale_2_bands(spo2: float, on_oxygen: bool, points: int) -> None:
    assert news2.spo2_scale_2_score(spo2, on_oxygen) == points


def test_air_or_oxygen() -> None:
    assert news2.air_or_oxygen_score(False) == 0
    assert news2.air_or_oxygen_score(True) == 2


@pytest.mark.parametrize(
    ("systolic", "points"),
    [(70, 3), (90, 3), (91, 2), (100, 2), (101, 1), (110, 1), (111, 0), (219, 0), (220, 3)],
)
def test_systolic_bands(systolic: float, points: int) -> None:
    assert news2.systolic_score(systolic) == points


@pytest.mark.parametrize(
    ("pulse", "points"),
    [
        (30, 3),
        (40, 3),
        (41, 1),
        (50, 1),
        (51, 0),
        (90, 0),
        (91, 1),
        (110, 1),
        (111, 2),
        (130, 2),
        (131, 3),
    ],
)
def test_pulse_bands(pulse: float, points: int) -> None:
    assert news2.pulse_score(pulse) == points


@pytest.mark.parametrize(("level", "points"), [("A", 0), ("C", 3), ("V", 3), ("P", 3), ("U", 3)])
def test_consciousness_acvpu(level: news2.Acvpu, points: int) -> None:
    assert news2.consciousness_score(level) == points


@pytest.mark.parametrize(
    ("celsius", "points"),
    [
        (34.0, 3),
        (35.0, 3),
        (35.1, 1),
        (36.0, 1),
        (36.1, 0),
        (38.0, 0),
        (38.1, 1),
        (39.0, 1),
        (39.1, 2),
        (41.0, 2),
    ],
)
def test_temperature_bands(celsius: float, points: int) -> None:
    assert news2.temperature_score(celsius) == points


def test_all_normal_is_zero_and_low_risk() -> None:
    result = score(NORMAL)
    assert result.total == 0
    assert result.risk == "low"
    assert result.text == "NEWS2 score 0: low clinical risk"
    assert set(result.parameters.values()) == {0}


def test_single_parameter_of_three_is_low_medium() -> None:
    result = score(replace(NORMAL, consciousness="C"))
    assert result.total == 3
    assert result.risk == "low-medium"
    assert result.text == "NEWS2 score 3: low\N{EN DASH}medium clinical risk"


def test_four_from_several_parameters_is_low() -> None:
    # RR 21 (2) + on oxygen (2): 4 without any single 3 stays low risk.
    result = score(replace(NORMAL, respiratory_rate=21, on_oxygen=True))
    assert (result.total, result.risk) == (4, "low")


@pytest.mark.parametrize(("total_extra", "risk"), [(5, "medium"), (6, "medium"), (7, "high")])
def test_aggregate_bands(total_extra: int, risk: str) -> None:
    # Build totals of 5, 6 and 7 from parameters that score 1 or 2, so no single 3 decides.
    variants: dict[int, dict[str, Any]] = {
        5: {"respiratory_rate": 22, "on_oxygen": True, "heart_rate": 95},
        6: {"respiratory_rate": 22, "on_oxygen": True, "heart_rate": 115},
        7: {"respiratory_rate": 22, "on_oxygen": True, "heart_rate": 115, "temperature": 38.5},
    }
    result = score(replace(NORMAL, **variants[total_extra]))
    assert result.total == total_extra
    assert result.risk == risk


def test_high_risk_text_matches_the_interface() -> None:
    sick = VitalSigns(
        respiratory_rate=26,  # 3
        spo2=93,  # 2
        on_oxygen=True,  # 2
        systolic=105,  # 1
        heart_rate=95,  # 1
        consciousness="A",  # 0
        temperature=37.0,  # 0
    )
    result = score(sick)
    assert result.text == "NEWS2 score 9: high clinical risk"
    assert "Emergency response" in result.response


def test_scale_2_applies_only_when_asked() -> None:
    target = replace(NORMAL, spo2=89)
    assert score(target).parameters["Oxygen saturation (SpO2)"] == 3
    scale_2 = replace(NORMAL, spo2=89, spo2_scale_2=True)
    assert score(scale_2).parameters["Oxygen saturation (SpO2)"] == 0
