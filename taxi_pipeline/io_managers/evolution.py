"""Tables that already exist: ours gain the columns a newer schema has; anyone else's
stops the run at once, naming the table, what is missing and what to do.

A table is ours when it has the `source_month` lineage column that every trip table
this pipeline creates carries (a table made by the course's week-1 `to_sql` has not).
"""

from __future__ import annotations

import pyarrow as pa

from taxi_pipeline.services import SOURCE_MONTH_COLUMN


class TableInTheWay(Exception):
    """A table of that name exists and was not made by this pipeline: a permanent error."""


def columns_to_add(table: str, where: str, existing: list[str], schema: pa.Schema) -> list[pa.Field]:
    """The schema's columns `table` lacks; TableInTheWay if the table is not ours.

    Names compare case-insensitively for the ownership test (a foreign table may spell
    them otherwise) and exactly for the columns to add."""
    have = set(existing)
    if SOURCE_MONTH_COLUMN in schema.names and SOURCE_MONTH_COLUMN not in have:
        lower = {n.lower() for n in existing}
        missing = [f.name for f in schema if f.name.lower() not in lower]
        raise TableInTheWay(
            f"{where} table {table} exists but was not created by taxi_pipeline: it has no "
            f"{', '.join(missing)} column{'s' if len(missing) > 1 else ''} (it has {', '.join(existing)}). "
            f"Rename it (ALTER TABLE {table} RENAME TO {table.split('.')[-1]}_old), drop it, or load into "
            "another database or schema; the pipeline never alters a table it did not make."
        )
    return [f for f in schema if f.name not in have]
