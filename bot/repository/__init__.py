"""All SQL lives here: the schema and its migrations (``schema``), the queries
(``queries.Repository``), and trusting the database file before SQLite opens it
(``dbfile``)."""

from __future__ import annotations

from bot.repository.queries import Repository, is_unique_violation
from bot.repository.schema import SCHEMA_VERSION

__all__ = ["SCHEMA_VERSION", "Repository", "is_unique_violation"]
