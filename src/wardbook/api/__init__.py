"""Wardbook api."""
