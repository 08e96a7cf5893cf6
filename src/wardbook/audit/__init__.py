"""Wardbook audit."""
