"""Names spliced into SQL, quoted by each engine's own rule. The settings that name
schemas and datasets are checked when the definitions load (settings.py); quoting them
where the SQL is built too means no name that passed can change a statement.

DuckDB's and BigQuery's Python clients have no quoting helper (Postgres' psycopg does:
`psycopg.sql.Identifier`, used in io_managers/postgres.py), so these are their SQL rules.
"""

from __future__ import annotations


def duckdb_name(*parts: str) -> str:
    """A (qualified) DuckDB identifier: each part in double quotes, a quote inside doubled."""
    return ".".join('"' + part.replace('"', '""') + '"' for part in parts)


def bigquery_name(*parts: str) -> str:
    """A (qualified) BigQuery identifier in backquotes. A backquote or backslash cannot be
    part of a project, dataset or table name, so one is refused rather than escaped."""
    name = ".".join(parts)
    if "`" in name or "\\" in name or any(not ch.isprintable() for ch in name):
        raise ValueError(f"{name!r} is not a BigQuery name")
    return f"`{name}`"
