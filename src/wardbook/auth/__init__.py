"""Wardbook auth."""
