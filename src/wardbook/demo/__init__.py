"""Deterministic, realistic FHIR R4 demo patients for Wardbook General Hospital.

``generate(patients, seed)`` yields each patient's record (Patient, Encounters,
Conditions, allergies, medicines, vital signs, lab results, notes and appointments) in
dependency order; ``shared_resources(seed)`` is the hospital, wards and staff they refer
to; ``as_transaction_bundle(resources)`` wraps resources for an idempotent load.
"""

from wardbook.demo.bundle import as_transaction_bundle, transaction_bundles
from wardbook.demo.clock import DEFAULT_NOW
from wardbook.demo.generator import generate, shared_resources

__all__ = [
    "DEFAULT_NOW",
    "as_transaction_bundle",
    "generate",
    "shared_resources",
    "transaction_bundles",
]
