"""Wardbook web."""
