"""Wardbook ops."""
