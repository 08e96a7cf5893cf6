"""Curated clinical tables and name lists shipped with the demo generator."""
