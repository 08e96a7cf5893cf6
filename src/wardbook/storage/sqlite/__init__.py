"""The SQLite storage backend."""

from wardbook.storage.sqlite.repository import SqliteRepository

__all__ = ["SqliteRepository"]
