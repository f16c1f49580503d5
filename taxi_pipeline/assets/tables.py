"""How a month's table is described in the catalog: column schema, preview, null counts."""

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from dagster import MetadataValue, TableColumn, TableSchema

from taxi_pipeline.column_docs import doc
from taxi_pipeline.services import SOURCE_MONTH_COLUMN, TaxiService


def table_schema(schema: pa.Schema, descriptions: dict[str, str] | None = None) -> TableSchema:
    descriptions = descriptions or {}
    return TableSchema(
        columns=[
            TableColumn(f.name, str(f.type), description=descriptions.get(f.name))
            for f in schema
        ]
    )


def service_table_schema(service: TaxiService) -> TableSchema:
    descriptions = {c.name: c.description for c in service.columns}
    descriptions[SOURCE_MONTH_COLUMN] = doc("source_month")
    return table_schema(service.schema, descriptions)


def preview_markdown(path: Path, rows: int = 5) -> MetadataValue:
    head = pq.ParquetFile(path).read_row_group(0).slice(0, rows)
    return MetadataValue.md(head.to_pandas().to_markdown(index=False))


def stored_null_counts(path: Path) -> dict[str, int]:
    """Null counts as the parquet file records them, read back from its footer."""
    meta = pq.ParquetFile(path).metadata
    counts: dict[str, int] = {}
    for g in range(meta.num_row_groups):
        group = meta.row_group(g)
        for c in range(group.num_columns):
            column = group.column(c)
            stats = column.statistics
            nulls = stats.null_count if stats is not None and stats.has_null_count else 0
            counts[column.path_in_schema] = counts.get(column.path_in_schema, 0) + nulls
    return counts
