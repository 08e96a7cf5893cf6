"""Long-term conditions (SNOMED CT disorders) with age-banded prevalence and usual drugs.

Prevalences are for a hospital population (older and sicker than the general public), by
band: under 18, 18-39, 40-64, 65-79, 80+.
"""

from __future__ import annotations

from wardbook.demo.catalog import ChronicCondition

CHRONIC_CONDITIONS: tuple[ChronicCondition, ...] = (
    ChronicCondition(
        "hypertension",
        "38341003",
        "Hypertension",
        (0, 0.05, 0.28, 0.5, 0.6),
        (("amlodipine", "lisinopril_10", "lisinopril_20", "hydrochlorothiazide"),),
        clinic="cardiology",
    ),
    ChronicCondition(
        "type2_diabetes",
        "44054006",
        "Type 2 diabetes mellitus",
        (0, 0.03, 0.13, 0.22, 0.2),
        (("metformin", "metformin", "metformin_mr", "insulin_70_30"),),
        clinic="acute_medicine",
    ),
    ChronicCondition(
        "asthma",
        "195967001",
        "Asthma",
        (0.12, 0.1, 0.08, 0.07, 0.05),
        (("salbutamol",), ("fluticasone", "fluticasone_salmeterol")),
        clinic="respiratory",
    ),
    ChronicCondition(
        "copd",
        "13645005",
        "Chronic obstructive pulmonary disease",
        (0, 0, 0.06, 0.14, 0.14),
        (("salbutamol",), ("fluticasone_salmeterol",)),
        clinic="respiratory",
    ),
    ChronicCondition(
        "atrial_fibrillation",
        "49436004",
        "Atrial fibrillation",
        (0, 0, 0.03, 0.12, 0.2),
        (("warfarin",), ("digoxin", "carvedilol")),
        clinic="cardiology",
    ),
    ChronicCondition(
        "heart_failure",
        "84114007",
        "Heart failure",
        (0, 0, 0.02, 0.09, 0.15),
        (("furosemide",), ("carvedilol",), ("lisinopril_10",)),
        clinic="cardiology",
    ),
    ChronicCondition(
        "coronary_disease",
        "53741008",
        "Coronary arteriosclerosis",
        (0, 0, 0.05, 0.14, 0.16),
        (("aspirin", "clopidogrel"), ("atorvastatin",), ("gtn_spray",)),
        clinic="cardiology",
    ),
    ChronicCondition(
        "ckd3",
        "433144002",
        "Chronic kidney disease stage 3",
        (0, 0, 0.03, 0.12, 0.25),
        clinic="acute_medicine",
    ),
    ChronicCondition(
        "hyperlipidaemia",
        "55822004",
        "Hyperlipidemia",
        (0, 0.02, 0.15, 0.3, 0.28),
        (("atorvastatin", "simvastatin", "rosuvastatin"),),
        clinic="cardiology",
    ),
    ChronicCondition(
        "osteoarthritis",
        "396275006",
        "Osteoarthritis",
        (0, 0.01, 0.1, 0.25, 0.32),
        (("paracetamol",), ("tramadol", "", "")),
        clinic="elderly_care",
    ),
    ChronicCondition(
        "depression",
        "35489007",
        "Depressive disorder",
        (0.01, 0.09, 0.08, 0.06, 0.05),
        (("fluoxetine",),),
        clinic="acute_medicine",
    ),
    ChronicCondition(
        "dementia",
        "52448006",
        "Dementia",
        (0, 0, 0, 0.04, 0.16),
        (("donepezil",),),
        clinic="elderly_care",
    ),
    ChronicCondition(
        "osteoporosis",
        "64859006",
        "Osteoporosis",
        (0, 0, 0.03, 0.12, 0.22),
        (("alendronic_acid",),),
        clinic="elderly_care",
        sex="female",
    ),
    ChronicCondition(
        "reflux",
        "235595009",
        "Gastroesophageal reflux disease",
        (0, 0.04, 0.08, 0.1, 0.1),
        (("omeprazole", "famotidine"),),
        clinic="acute_medicine",
    ),
    ChronicCondition(
        "anaemia",
        "271737000",
        "Anemia",
        (0, 0.02, 0.03, 0.06, 0.1),
        (("ferrous_sulfate",),),
        clinic="elderly_care",
    ),
)

# Added from the measured BMI (30 kg/m2 or more), not drawn by prevalence.
OBESITY = ChronicCondition("obesity", "414916001", "Obesity", (0, 0, 0, 0, 0))
