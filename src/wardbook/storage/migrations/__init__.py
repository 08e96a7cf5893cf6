"""Versioned SQL migrations, one folder per dialect (see README.md and wardbook.storage.migrate)."""
