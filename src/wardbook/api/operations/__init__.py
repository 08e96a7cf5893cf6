"""FHIR operations ($validate, later $everything, $export, $meta)."""
