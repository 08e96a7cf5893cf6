"""Wardbook search."""
