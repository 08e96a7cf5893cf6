"""Wardbook fhir."""
