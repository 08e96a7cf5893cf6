"""Wardbook storage/sqlite."""
