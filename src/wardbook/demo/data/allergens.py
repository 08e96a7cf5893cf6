"""Allergies and intolerances: SNOMED CT "allergy to ..." findings and RxNorm ingredients.

Reaction manifestations are SNOMED CT clinical findings (R4 allergyintolerance.html).
"""

from __future__ import annotations

from wardbook.demo.catalog import Allergen, Reaction
from wardbook.demo.terminology import RXNORM, SNOMED

NO_KNOWN_ALLERGY = ("716186003", "No known allergy")

ANAPHYLAXIS = Reaction("39579001", "Anaphylaxis", "severe")
ANGIOEDEMA = Reaction("41291007", "Angioedema", "severe")
URTICARIA = Reaction("126485001", "Urticaria", "moderate")
RASH = Reaction("271807003", "Eruption of skin", "mild")
ITCHING = Reaction("418290006", "Itching", "mild")
WHEEZE = Reaction("56018004", "Wheezing", "moderate")
RHINITIS = Reaction("70076002", "Rhinitis", "mild")
CONJUNCTIVITIS = Reaction("9826008", "Conjunctivitis", "mild")
NAUSEA = Reaction("422587007", "Nausea", "mild")
VOMITING = Reaction("422400008", "Vomiting", "moderate")
DIARRHOEA = Reaction("62315008", "Diarrhea", "mild")

ALLERGENS: tuple[Allergen, ...] = (
    Allergen(
        "penicillin",
        SNOMED,
        "91936005",
        "Allergy to penicillin",
        "medication",
        "allergy",
        (RASH, URTICARIA, ANAPHYLAXIS, ANGIOEDEMA),
        0.30,
        drug_keys=("amoxicillin", "amoxicillin_child", "co_amoxiclav"),
    ),
    Allergen(
        "peanut",
        SNOMED,
        "91935009",
        "Allergy to peanuts",
        "food",
        "allergy",
        (URTICARIA, ANGIOEDEMA, ANAPHYLAXIS),
        0.08,
    ),
    Allergen(
        "tree_nut",
        SNOMED,
        "91934008",
        "Allergy to nut",
        "food",
        "allergy",
        (URTICARIA, ITCHING, ANGIOEDEMA),
        0.05,
    ),
    Allergen(
        "egg",
        SNOMED,
        "91930004",
        "Allergy to eggs",
        "food",
        "allergy",
        (RASH, URTICARIA, VOMITING),
        0.04,
    ),
    Allergen(
        "shellfish",
        SNOMED,
        "300913006",
        "Shellfish allergy",
        "food",
        "allergy",
        (URTICARIA, VOMITING, ANGIOEDEMA),
        0.05,
    ),
    Allergen(
        "latex",
        SNOMED,
        "300916003",
        "Latex allergy",
        "environment",
        "allergy",
        (RASH, ITCHING, URTICARIA),
        0.06,
    ),
    Allergen(
        "bee_venom",
        SNOMED,
        "424213003",
        "Allergy to bee venom",
        "environment",
        "allergy",
        (URTICARIA, ANAPHYLAXIS),
        0.03,
    ),
    Allergen(
        "house_dust_mite",
        SNOMED,
        "232350006",
        "House dust mite allergy",
        "environment",
        "allergy",
        (RHINITIS, WHEEZE, CONJUNCTIVITIS),
        0.07,
    ),
    Allergen(
        "grass_pollen",
        SNOMED,
        "418689008",
        "Allergy to grass pollen",
        "environment",
        "allergy",
        (RHINITIS, CONJUNCTIVITIS, WHEEZE),
        0.08,
    ),
    Allergen(
        "aspirin",
        RXNORM,
        "1191",
        "aspirin",
        "medication",
        "allergy",
        (WHEEZE, URTICARIA, ANGIOEDEMA),
        0.04,
        drug_keys=("aspirin",),
    ),
    Allergen(
        "ibuprofen",
        RXNORM,
        "5640",
        "ibuprofen",
        "medication",
        "allergy",
        (WHEEZE, RASH),
        0.03,
        drug_keys=("ibuprofen", "ibuprofen_child"),
    ),
    Allergen(
        "codeine", RXNORM, "2670", "codeine", "medication", "intolerance", (NAUSEA, VOMITING), 0.06
    ),
    Allergen(
        "morphine",
        RXNORM,
        "7052",
        "morphine",
        "medication",
        "intolerance",
        (NAUSEA, VOMITING, ITCHING),
        0.04,
    ),
    Allergen(
        "sulfamethoxazole",
        RXNORM,
        "10180",
        "sulfamethoxazole",
        "medication",
        "allergy",
        (RASH, ITCHING),
        0.04,
    ),
    Allergen(
        "clarithromycin",
        RXNORM,
        "21212",
        "clarithromycin",
        "medication",
        "intolerance",
        (NAUSEA, DIARRHOEA),
        0.02,
        drug_keys=("clarithromycin",),
    ),
)
