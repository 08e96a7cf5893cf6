"""National Early Warning Score 2 (Royal College of Physicians, December 2017).

Pure scoring of one set of observations: each of the seven parameters scores 0-3 by the
NEWS2 chart's bands, the aggregate is their sum, and the clinical risk is low (0-4),
low-medium (a 3 in any single parameter while the total is 4 or less), medium (5-6) or
high (7 or more). SpO2 uses Scale 1 unless the patient has a prescribed target of 88-92 %
(hypercapnic respiratory failure), when Scale 2 applies. Source: RCP, "National Early
Warning Score (NEWS) 2: Standardising the assessment of acute-illness severity in the NHS",
chart 1 (the NEWS2 scoring system) and table 2 (thresholds and triggers).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Acvpu = Literal["A", "C", "V", "P", "U"]
Risk = Literal["low", "low-medium", "medium", "high"]

# How each band reads on screen: the RCP writes low-medium with an en dash.
RISK_LABELS: dict[str, str] = {
    "low": "low",
    "low-medium": "low\N{EN DASH}medium",
    "medium": "medium",
    "high": "high",
}

ACVPU_LABELS: dict[str, str] = {
    "A": "Alert",
    "C": "New confusion",
    "V": "Voice",
    "P": "Pain",
    "U": "Unresponsive",
}

RESPONSES: dict[str, str] = {
    "low": "Assessment by a registered nurse, who decides how often to monitor and whether "
    "to escalate.",
    "low-medium": "Urgent ward-based response: a registered nurse informs the medical team "
    "caring for the patient.",
    "medium": "Key threshold for urgent response: urgent review by a clinician competent in "
    "assessing acutely ill patients.",
    "high": "Emergency response: urgent assessment by a team with critical care "
    "competencies, usually including a move to a higher level of care.",
}


@dataclass(frozen=True, slots=True)
class VitalSigns:
    """One set of observations as NEWS2 needs them."""

    respiratory_rate: float  # breaths per minute
    spo2: float  # %
    on_oxygen: bool
    systolic: float  # mmHg
    heart_rate: float  # beats per minute
    consciousness: Acvpu
    temperature: float  # degrees Celsius
    spo2_scale_2: bool = False


@dataclass(frozen=True, slots=True)
class News2:
    """The aggregate score, each parameter's score and the clinical risk band."""

    total: int
    parameters: dict[str, int]
    risk: Risk

    @property
    def text(self) -> str:
        """E.g. "NEWS2 score 8: high clinical risk"."""
        return f"NEWS2 score {self.total}: {RISK_LABELS[self.risk]} clinical risk"

    @property
    def response(self) -> str:
        """The clinical response the RCP ties to this risk band."""
        return RESPONSES[self.risk]


def respiratory_rate_score(rate: float) -> int:
    if rate <= 8:
        return 3
    if rate <= 11:
        return 1
    if rate <= 20:
        return 0
    if rate <= 24:
        return 2
    return 3


def spo2_scale_1_score(spo2: float) -> int:
    if spo2 <= 91:
        return 3
    if spo2 <= 93:
        return 2
    if spo2 <= 95:
        return 1
    return 0


def spo2_scale_2_score(spo2: float, on_oxygen: bool) -> int:
    """Scale 2: 88-92 % scores 0; higher values score only when on oxygen."""
    if spo2 <= 83:
        return 3
    if spo2 <= 85:
        return 2
    if spo2 <= 87:
        return 1
    if spo2 <= 92 or not on_oxygen:
        return 0
    if spo2 <= 94:
        return 1
    if spo2 <= 96:
        return 2
    return 3


def air_or_oxygen_score(on_oxygen: bool) -> int:
    return 2 if on_oxygen else 0


def systolic_score(systolic: float) -> int:
    if systolic <= 90:
        return 3
    if systolic <= 100:
        return 2
    if systolic <= 110:
        return 1
    if systolic <= 219:
        return 0
    return 3


def pulse_score(rate: float) -> int:
    if rate <= 40:
        return 3
    if rate <= 50:
        return 1
    if rate <= 90:
        return 0
    if rate <= 110:
        return 1
    if rate <= 130:
        return 2
    return 3


def consciousness_score(level: Acvpu) -> int:
    """Alert scores 0; new confusion, voice, pain or unresponsive score 3."""
    return 0 if level == "A" else 3


def temperature_score(celsius: float) -> int:
    if celsius <= 35.0:
        return 3
    if celsius <= 36.0:
        return 1
    if celsius <= 38.0:
        return 0
    if celsius <= 39.0:
        return 1
    return 2


def risk_band(total: int, highest_single: int) -> Risk:
    """RCP table 2: 7+ high, 5-6 medium, a single 3 low-medium, else low."""
    if total >= 7:
        return "high"
    if total >= 5:
        return "medium"
    if highest_single >= 3:
        return "low-medium"
    return "low"


def score(vitals: VitalSigns) -> News2:
    """The NEWS2 of one complete set of observations."""
    spo2 = (
        spo2_scale_2_score(vitals.spo2, vitals.on_oxygen)
        if vitals.spo2_scale_2
        else spo2_scale_1_score(vitals.spo2)
    )
    parameters = {
        "Respiratory rate": respiratory_rate_score(vitals.respiratory_rate),
        "Oxygen saturation (SpO2)": spo2,
        "Supplemental oxygen": air_or_oxygen_score(vitals.on_oxygen),
        "Systolic blood pressure": systolic_score(vitals.systolic),
        "Heart rate": pulse_score(vitals.heart_rate),
        "Level of consciousness": consciousness_score(vitals.consciousness),
        "Temperature": temperature_score(vitals.temperature),
    }
    total = sum(parameters.values())
    return News2(total, parameters, risk_band(total, max(parameters.values())))
