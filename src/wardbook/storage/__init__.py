"""Wardbook storage."""
