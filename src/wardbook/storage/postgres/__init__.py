"""The PostgreSQL storage backend."""

from wardbook.storage.postgres.repository import PostgresRepository

__all__ = ["PostgresRepository"]
