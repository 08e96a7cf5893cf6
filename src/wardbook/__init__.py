"""Wardbook: a clinical records platform on HL7 FHIR R4 (4.0.1)."""

__version__ = "0.1.0"
FHIR_VERSION = "4.0.1"
