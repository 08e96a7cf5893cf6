"""Wardbook service."""
