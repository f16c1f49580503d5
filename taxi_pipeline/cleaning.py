"""A month's source file (official Parquet or the course's csv.gz) -> canonical parquet,
streamed batch by batch.

Parquet is read a row group at a time and conformed by `conform`. CSV goes through
pyarrow's streaming reader with the canonical types; when it rejects the file, a second,
plain-Python pass finds the first bad line and column so the error names them (pyarrow
reports neither for conversion errors).
"""

from __future__ import annotations

import contextlib
import csv
import gzip
import zlib
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from taxi_pipeline.conform import (
    BadTripFile,
    ColumnPlan,
    conform_batch,
    month_value,
    needs_locator,
    plan_columns,
)
from taxi_pipeline.cpu import yield_cpu
from taxi_pipeline.gzip_stream import VerifiedGzipFile
from taxi_pipeline.services import OUTSIDE_ZONES, UNKNOWN_ZONE, TaxiService

# 1 MiB of CSV per batch (~9,000 yellow rows): measured on a 1.37M-row month, 16 MiB blocks
# cost 244 MB of memory above the imports to read the file and 1 MiB blocks 84 MB, at the
# same speed. Parquet row groups are gathered from those batches to PARQUET_ROW_GROUP_ROWS.
CSV_BLOCK_BYTES = 1 << 20
PARQUET_READ_BATCH_ROWS = 64 * 1024
"""Official files hold row groups of up to ~1M rows; reading 64k rows at a time keeps a
24-column fhvhv month's working set at a few tens of MB."""
PARQUET_COMPRESSION = "zstd"
PARQUET_COMPRESSION_LEVEL = 3  # 1.37M rows: 15.7 MiB, as small as gzip's 15.1 at 1/7 the write time
PARQUET_ROW_GROUP_ROWS = 128 * 1024
WRITES_IN_FLIGHT = 2
"""Row groups handed to the writer's thread and not yet written: memory stays a few groups."""

__all__ = ["BadTripFile", "CleanResult", "canonical_batches", "write_clean_parquet"]


@dataclass
class CleanResult:
    rows: int = 0
    null_counts: dict[str, int] = field(default_factory=dict)
    min_pickup: datetime | None = None
    max_pickup: datetime | None = None
    located: dict[str, dict[str, int]] = field(default_factory=dict)
    """Zone column -> {"located", "no coordinate", "in no zone"} trip ends, for a month
    whose zones were located from its coordinates; empty when the file had zone IDs."""

    def to_json(self) -> dict:
        return {**asdict(self), "min_pickup": _iso(self.min_pickup), "max_pickup": _iso(self.max_pickup)}

    @classmethod
    def from_json(cls, data: dict) -> CleanResult:
        pickups = {k: data[k] and datetime.fromisoformat(data[k]) for k in ("min_pickup", "max_pickup")}
        return cls(rows=data["rows"], null_counts=data["null_counts"], located=data.get("located", {}),
                   **pickups)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def read_header(path: Path, label: str, origin: str) -> list[str]:
    """The header's names; `origin` names the file in a gzip error (its URL, or `label`)."""
    try:
        with gzip.open(path, "rt", newline="", encoding="utf-8") as f:
            header = next(csv.reader(f), None)
    except (EOFError, OSError, zlib.error) as err:  # cut short before its first line ends
        with VerifiedGzipFile(path, origin) as whole:
            whole.read()  # raises SourceFileCorrupt naming where the stream ends
        raise BadTripFile(f"{label}: unreadable header ({err}).") from None
    if not header:
        raise BadTripFile(f"{label}: the file is empty (no header line).")
    return [h.strip() for h in header]


ZoneLocatorFactory = Callable[[], object]
"""Builds the `ZoneLocator` of the current zone shapes; called only for a file that
carries coordinates instead of zone IDs (yellow 2009-2010)."""


def canonical_batches(
    src: Path, service: TaxiService, source_month: datetime, label: str, result: CleanResult,
    origin: str | None = None, zone_locator: ZoneLocatorFactory | None = None,
) -> Iterator[pa.RecordBatch]:
    """Yield `src`'s rows as batches with exactly `service.schema`, filling `result`.

    Raises BadTripFile naming the file, row or line, and column on the first bad value, and
    SourceFileCorrupt (naming `origin`, its URL, or `label`) for a gzip file that is not whole.
    """
    result.null_counts = {c.name: 0 for c in service.columns}
    month = month_value(source_month)

    def locator_for(plans: list[ColumnPlan]):
        if not needs_locator(plans):
            return None
        if zone_locator is None:
            raise BadTripFile(f"{label}: the file has coordinates, not zone IDs, and no zone shapes "
                              "were given to locate them.")
        result.located = {p.column.name: {"located": 0, "no coordinate": 0, "in no zone": 0}
                          for p in plans if p.located_from}
        return zone_locator()

    if src.name.endswith(".parquet"):
        batches = _parquet_batches(src, service, month, label, locator_for)
    else:
        batches = _csv_batches(src, service, month, label, origin or label, locator_for)
    for batch in batches:
        _collect(result, batch, service)
        yield batch
    if result.rows == 0:
        raise BadTripFile(f"{label}: the file has a header but no rows.")


def _parquet_batches(
    src: Path, service: TaxiService, month, label: str, locator_for
) -> Iterator[pa.RecordBatch]:
    try:
        parquet = pq.ParquetFile(src, pre_buffer=False)  # why: stream_parquet in io_managers/lake.py
    except (pa.ArrowInvalid, OSError) as err:
        raise BadTripFile(f"{label}: not a readable Parquet file ({err}).") from None
    plans = plan_columns(parquet.schema_arrow.names, service, label)
    locator = locator_for(plans)
    wanted = [p.source for p in plans if p.source]
    row = 1
    try:
        for batch in parquet.iter_batches(batch_size=PARQUET_READ_BATCH_ROWS, columns=wanted):
            yield conform_batch(batch, plans, service, month, label, row, locator=locator)
            row += batch.num_rows
    except (pa.ArrowInvalid, OSError) as err:
        raise BadTripFile(f"{label}: unreadable after row {row - 1} ({err}).") from None


def _csv_batches(
    src: Path, service: TaxiService, month, label: str, origin: str, locator_for
) -> Iterator[pa.RecordBatch]:
    header = read_header(src, label, origin)
    plans = plan_columns(header, service, label, where=", line 1")
    locator = locator_for(plans)
    types = {p.source: p.column.type for p in plans if p.source}
    line = 2
    # Decompressed once, and proven whole as it is read (the download left that to this pass).
    with VerifiedGzipFile(src, origin) as stream:
        try:
            reader = pacsv.open_csv(
                stream,
                read_options=pacsv.ReadOptions(block_size=CSV_BLOCK_BYTES),
                convert_options=pacsv.ConvertOptions(
                    column_types=types,
                    null_values=[""],
                    strings_can_be_null=True,
                    quoted_strings_can_be_null=False,
                ),
            )
            for batch in reader:
                yield conform_batch(batch, plans, service, month, label, line, unit="line", locator=locator)
                line += batch.num_rows
        except pa.ArrowInvalid as err:
            raise BadTripFile(locate_bad_value(src, header, types, label) or f"{label}: {err}") from None


def write_clean_parquet(
    src: Path,
    dest: Path | None,
    service: TaxiService,
    source_month: datetime,
    label: str,
    also: Sequence[Callable[[pa.RecordBatch], None]] = (),
    origin: str | None = None,
    zone_locator: ZoneLocatorFactory | None = None,
) -> CleanResult:
    """Stream `src` into a parquet file at `dest` with exactly `service.schema`, handing
    every batch to each of `also` as it goes (the month's loads, the checks' tallies).
    `dest` None: validate only. `origin`: what a gzip error calls the file (its URL).
    `zone_locator`: the zone shapes' locator, for a file with coordinates, not zones."""
    result = CleanResult()
    group: list[pa.RecordBatch] = []
    group_rows = 0
    with contextlib.ExitStack() as stack:
        writer = dest and stack.enter_context(pq.ParquetWriter(
            dest, service.schema, compression=PARQUET_COMPRESSION,
            compression_level=PARQUET_COMPRESSION_LEVEL, write_statistics=statistics_columns(service.schema),
        ))
        # Row groups are encoded and compressed on a thread of their own (pyarrow releases
        # the GIL) while this one parses the next batches: on a 20M-row month the writer
        # was 11 s of the pass's thread, in series with the parse.
        pool = stack.enter_context(ThreadPoolExecutor(1, "clean parquet", initializer=yield_cpu))
        writes: deque[Future] = deque()

        def write_group(batches: list[pa.RecordBatch], rows: int) -> None:
            table = pa.Table.from_batches(batches)
            writes.append(pool.submit(writer.write_table, table, row_group_size=rows))
            while len(writes) > WRITES_IN_FLIGHT:
                writes.popleft().result()

        for batch in canonical_batches(src, service, source_month, label, result, origin, zone_locator):
            for consumer in also:
                consumer(batch)
            if writer is None:
                continue
            group.append(batch)
            group_rows += batch.num_rows
            if group_rows >= PARQUET_ROW_GROUP_ROWS:
                write_group(group, group_rows)
                group, group_rows = [], 0
        if group and writer:
            write_group(group, group_rows)
        while writes:
            writes.popleft().result()
    return result


def statistics_columns(schema: pa.Schema) -> list[str]:
    """Columns whose row groups carry min/max statistics: all but text. Readers prune on
    times and numbers; the min/max of a flag or a base number prunes nothing, and
    computing them was a tenth of the writer's CPU on an fhvhv month (7 text columns)."""
    return [f.name for f in schema if not pa.types.is_string(f.type)]


def _collect(result: CleanResult, batch: pa.RecordBatch, service: TaxiService) -> None:
    result.rows += batch.num_rows
    for c in service.columns:
        result.null_counts[c.name] += batch.column(c.name).null_count
    for name, counts in result.located.items():
        zones = batch.column(name)
        unknown = pc.sum(pc.equal(zones, UNKNOWN_ZONE)).as_py() or 0
        outside = pc.sum(pc.equal(zones, OUTSIDE_ZONES)).as_py() or 0
        counts["located"] += len(zones) - unknown - outside
        counts["no coordinate"] += unknown
        counts["in no zone"] += outside
    low, high = pc.min_max(batch.column(service.pickup_column)).values()
    if low.is_valid:
        low, high = low.as_py(), high.as_py()
        result.min_pickup = low if result.min_pickup is None else min(result.min_pickup, low)
        result.max_pickup = high if result.max_pickup is None else max(result.max_pickup, high)


def _int_parser(bits: int):
    low, high = -(2 ** (bits - 1)), 2 ** (bits - 1) - 1

    def parse(value: str) -> None:
        number = int(value)
        if not low <= number <= high:
            raise ValueError(f"out of range for a {bits}-bit integer")

    return parse


def _parser_for(type_: pa.DataType):
    if pa.types.is_integer(type_):
        return _int_parser(type_.bit_width)
    if pa.types.is_floating(type_):
        return float
    if pa.types.is_timestamp(type_):
        return datetime.fromisoformat
    return None


def locate_bad_value(src: Path, header: list[str], types: dict, label: str) -> str | None:
    """Find the first line that the fast reader would reject; describe it, or None."""
    parsers = [(i, name, _parser_for(types[name])) for i, name in enumerate(header) if name in types]
    line_no = 0
    try:
        with gzip.open(src, "rt", newline="", encoding="utf-8") as f:
            for line_no, row in enumerate(csv.reader(f), start=1):
                if line_no == 1:
                    continue
                if len(row) != len(header):
                    return (
                        f"{label}, line {line_no}: expected {len(header)} columns, found "
                        f"{len(row)}: {','.join(row)!r}"
                    )
                for i, name, parse in parsers:
                    value = row[i]
                    if value == "" or parse is None:
                        continue
                    try:
                        parse(value)
                    except ValueError as err:
                        return (
                            f"{label}, line {line_no}, column {name!r}: cannot read {value!r} "
                            f"as {types[name]} ({err})"
                        )
    except (EOFError, OSError, UnicodeDecodeError) as err:
        return f"{label}: unreadable after line {line_no}: {err}"
    return None
