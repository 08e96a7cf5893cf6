"""Wardbook storage/postgres."""
