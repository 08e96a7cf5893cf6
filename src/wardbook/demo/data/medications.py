"""RxNorm clinical drugs (SCD) used by the demo, keyed by a short name.

Codes and names are RxNorm's own (RXNCONSO SCD strings); instructions are written the way a
UK prescription label reads.
"""

from __future__ import annotations

from wardbook.demo.catalog import Drug

INHALED = ("447694001", "Respiratory tract route")
SUBCUTANEOUS = ("34206005", "Subcutaneous route")
SUBLINGUAL = ("37839007", "Sublingual route")

DRUGS: dict[str, Drug] = {
    d.key: d
    for d in (
        Drug(
            "metformin",
            "861007",
            "metformin hydrochloride 500 MG Oral Tablet",
            "Take one tablet twice a day with breakfast and evening meal",
            2,
        ),
        Drug(
            "metformin_mr",
            "860975",
            "24 HR metformin hydrochloride 500 MG Extended Release Oral Tablet",
            "Take one tablet once a day with the evening meal",
            1,
        ),
        Drug(
            "insulin_70_30",
            "106892",
            "insulin human, isophane 70 UNT/ML / Regular Insulin, Human 30 UNT/ML "
            "Injectable Suspension [Humulin]",
            "Inject as directed twice a day, before breakfast and the evening meal",
            2,
            form="injection",
            route=SUBCUTANEOUS,
        ),
        Drug(
            "lisinopril_10",
            "314076",
            "lisinopril 10 MG Oral Tablet",
            "Take one tablet once a day",
            1,
        ),
        Drug(
            "lisinopril_20",
            "314077",
            "lisinopril 20 MG Oral Tablet",
            "Take one tablet once a day",
            1,
        ),
        Drug(
            "amlodipine", "197361", "amlodipine 5 MG Oral Tablet", "Take one tablet once a day", 1
        ),
        Drug(
            "hydrochlorothiazide",
            "310798",
            "hydrochlorothiazide 25 MG Oral Tablet",
            "Take one tablet each morning",
            1,
        ),
        Drug(
            "atorvastatin",
            "617314",
            "atorvastatin 10 MG Oral Tablet",
            "Take one tablet at night",
            1,
        ),
        Drug(
            "simvastatin", "312961", "simvastatin 20 MG Oral Tablet", "Take one tablet at night", 1
        ),
        Drug(
            "rosuvastatin",
            "859747",
            "rosuvastatin calcium 10 MG Oral Tablet",
            "Take one tablet once a day",
            1,
        ),
        Drug(
            "aspirin",
            "243670",
            "aspirin 81 MG Oral Tablet",
            "Take one tablet once a day after food",
            1,
        ),
        Drug(
            "clopidogrel",
            "309362",
            "clopidogrel 75 MG Oral Tablet",
            "Take one tablet once a day",
            1,
        ),
        Drug(
            "gtn_spray",
            "705129",
            "nitroglycerin 0.4 MG/ACTUAT Mucosal Spray",
            "Spray one or two doses under the tongue when required for chest pain",
            0,
            form="spray",
            as_needed=True,
            route=SUBLINGUAL,
        ),
        Drug(
            "warfarin",
            "855332",
            "warfarin sodium 5 MG Oral Tablet",
            "Take as directed by the anticoagulation clinic (target INR 2.5)",
            1,
        ),
        Drug("digoxin", "197604", "digoxin 0.125 MG Oral Tablet", "Take one tablet once a day", 1),
        Drug(
            "furosemide",
            "313988",
            "furosemide 40 MG Oral Tablet",
            "Take one tablet each morning",
            1,
        ),
        Drug(
            "carvedilol",
            "200033",
            "carvedilol 25 MG Oral Tablet",
            "Take one tablet twice a day with food",
            2,
        ),
        Drug(
            "paracetamol",
            "198440",
            "acetaminophen 500 MG Oral Tablet",
            "Take one or two tablets up to four times a day when required "
            "(no more than eight tablets in 24 hours)",
            4,
            as_needed=True,
        ),
        Drug(
            "paracetamol_child",
            "313820",
            "acetaminophen 160 MG Chewable Tablet",
            "Chew one tablet up to four times a day when required for pain or fever",
            4,
            as_needed=True,
        ),
        Drug(
            "tramadol",
            "835603",
            "tramadol hydrochloride 50 MG Oral Tablet",
            "Take one tablet up to four times a day when required for severe pain",
            4,
            as_needed=True,
        ),
        Drug(
            "ibuprofen",
            "310965",
            "ibuprofen 200 MG Oral Tablet",
            "Take two tablets up to three times a day with food when required",
            3,
            as_needed=True,
            units_per_dose=2,
        ),
        Drug(
            "ibuprofen_child",
            "198405",
            "ibuprofen 100 MG Oral Tablet",
            "Take one tablet up to three times a day with food when required",
            3,
            as_needed=True,
        ),
        Drug(
            "salbutamol",
            "2123111",
            "NDA020503 200 ACTUAT albuterol 0.09 MG/ACTUAT Metered Dose Inhaler",
            "Inhale two puffs up to four times a day when required for breathlessness",
            4,
            form="inhaler",
            as_needed=True,
            route=INHALED,
        ),
        Drug(
            "fluticasone",
            "895994",
            "120 ACTUAT fluticasone propionate 0.044 MG/ACTUAT Metered Dose Inhaler",
            "Inhale two puffs twice a day; rinse mouth after use",
            2,
            form="inhaler",
            route=INHALED,
        ),
        Drug(
            "fluticasone_salmeterol",
            "896209",
            "60 ACTUAT fluticasone propionate 0.25 MG/ACTUAT / salmeterol 0.05 MG/ACTUAT "
            "Dry Powder Inhaler",
            "Inhale one dose twice a day; rinse mouth after use",
            2,
            form="inhaler",
            route=INHALED,
        ),
        Drug(
            "co_amoxiclav",
            "562251",
            "amoxicillin 250 MG / clavulanate 125 MG Oral Tablet",
            "Take one tablet three times a day for 7 days",
            3,
        ),
        Drug(
            "amoxicillin",
            "308192",
            "amoxicillin 500 MG Oral Tablet",
            "Take one tablet three times a day for 5 days",
            3,
        ),
        Drug(
            "amoxicillin_child",
            "308182",
            "amoxicillin 250 MG Oral Capsule",
            "Take one capsule three times a day for 5 days",
            3,
            form="capsule",
        ),
        Drug(
            "clarithromycin",
            "197517",
            "clarithromycin 500 MG Oral Tablet",
            "Take one tablet twice a day for 7 days",
            2,
        ),
        Drug(
            "nitrofurantoin",
            "311995",
            "nitrofurantoin, macrocrystals 50 MG Oral Capsule",
            "Take one capsule four times a day for 3 days",
            4,
            form="capsule",
        ),
        Drug(
            "cefuroxime",
            "309097",
            "cefuroxime 250 MG Oral Tablet",
            "Take one tablet twice a day for 7 days",
            2,
        ),
        Drug(
            "prednisone",
            "312617",
            "prednisone 5 MG Oral Tablet",
            "Take eight tablets (40 mg) each morning for 5 days",
            1,
            units_per_dose=8,
        ),
        Drug(
            "omeprazole",
            "402014",
            "omeprazole 20 MG Delayed Release Oral Tablet",
            "Take one tablet once a day before breakfast",
            1,
        ),
        Drug(
            "famotidine", "310273", "famotidine 20 MG Oral Tablet", "Take one tablet twice a day", 2
        ),
        Drug(
            "fluoxetine",
            "310385",
            "fluoxetine 20 MG Oral Capsule",
            "Take one capsule each morning",
            1,
            form="capsule",
        ),
        Drug(
            "donepezil",
            "997223",
            "donepezil hydrochloride 10 MG Oral Tablet",
            "Take one tablet at night",
            1,
        ),
        Drug(
            "alendronic_acid",
            "904419",
            "alendronic acid 10 MG Oral Tablet",
            "Take one tablet each morning with a full glass of water, 30 minutes "
            "before food; stay upright for 30 minutes",
            1,
        ),
        Drug(
            "ferrous_sulfate",
            "310325",
            "ferrous sulfate 325 MG Oral Tablet",
            "Take one tablet once a day",
            1,
        ),
    )
}
