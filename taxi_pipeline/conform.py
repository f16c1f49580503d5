"""Any period's layout -> the service's canonical columns, one record batch at a time.

The mapping is data (`TaxiService.renames`, `ignored`, `value_maps`); the casts are the
same few rules for every period, chosen by the file column's type and the canonical one:
an integral double becomes an integer (a fraction is an error), a null-typed column typed
nulls, a word its code through the value map, text a timestamp, any timestamp
microseconds. An error names the file, the row (1 = first data row) and the column.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from taxi_pipeline.services import OUTSIDE_ZONES, TIMESTAMP, UNKNOWN_ZONE, Column, TaxiService


class BadTripFile(ValueError):
    """The source file does not fit its service's canonical schema."""


@dataclass(frozen=True)
class Where:
    """Where a value sits, for errors: `row` numbers data rows from 1 (Parquet); a CSV
    counts `line`s, the header being line 1."""

    label: str
    first: int
    column: str
    unit: str = "row"


def file_position(label: str, index: int) -> str:
    """The `index`-th data row (from 0) of the file `label` names, in that file's unit:
    a CSV's line (its header is line 1), a Parquet file's row (1 = first row)."""
    if ".csv" in label:
        return f"line {index + 2}"
    return f"row {index + 1}"


@dataclass(frozen=True)
class ColumnPlan:
    column: Column
    source: str | None
    """The file's column feeding it, None when the file lacks it (nulls)."""
    located_from: tuple[str, str] | None = None
    """A zone the file does not have, located from these canonical coordinate columns."""


def needs_locator(plans: list[ColumnPlan]) -> bool:
    """The file carries coordinates instead of zone IDs (yellow 2009-2010)."""
    return any(p.located_from for p in plans)


def plan_columns(names: list[str], service: TaxiService, label: str, where: str = "") -> list[ColumnPlan]:
    """Canonical column -> the file's column that feeds it. Unknown, missing required or
    doubled columns are an error naming them all."""
    canonical = {c.name for c in service.columns}
    feeds: dict[str, list[str]] = {}
    unknown = []
    for name in names:
        target = service.canonical_name(name)
        if target is None:
            continue
        if target in canonical:
            feeds.setdefault(target, []).append(name)
        else:
            unknown.append(name)
    missing = [c.name for c in service.columns if c.required and c.name not in feeds]
    doubled = [f"{target} <- {' and '.join(src)}" for target, src in feeds.items() if len(src) > 1]
    if unknown or missing or doubled:
        raise BadTripFile(
            f"{label}{where}: the {'header does' if where else 'columns do'} not match "
            f"the {service.name} schema"
            + (f"; unknown columns {unknown}" if unknown else "")
            + (f"; missing columns {missing}" if missing else "")
            + (f"; one column fed twice: {doubled}" if doubled else "")
            + f". Columns: {','.join(names)}"
        )
    plans = []
    for c in service.columns:
        coordinates = service.located_zones.get(c.name)
        located = c.name not in feeds and coordinates and all(x in feeds for x in coordinates)
        plans.append(ColumnPlan(c, feeds.get(c.name, [None])[0], coordinates if located else None))
    return plans


def conform_batch(
    batch: pa.RecordBatch,
    plans: list[ColumnPlan],
    service: TaxiService,
    month_value: pa.Scalar,
    label: str,
    first_row: int,
    unit: str = "row",
    locator=None,
) -> pa.RecordBatch:
    """`batch` (the file's own names and types) as a batch of `service.schema`.

    `first_row` numbers the batch's first row in the file (in `unit`s), for errors;
    `locator` (a `ZoneLocator`) fills the zones of a file with coordinates instead."""
    n = batch.num_rows
    arrays = []
    for plan in plans:
        if plan.source is None:
            arrays.append(pa.nulls(n, plan.column.type))
            continue
        values = batch.column(plan.source)
        where = Where(label, first_row, plan.source, unit)
        arrays.append(cast_column(values, plan.column, service.value_maps.get(plan.column.name), where))
    if locator is not None:
        names = [p.column.name for p in plans]
        for i, plan in enumerate(plans):
            if plan.located_from:
                lon, lat = (arrays[names.index(name)] for name in plan.located_from)
                arrays[i] = located_zones(locator, lon, lat)
    arrays.append(pa.repeat(month_value, n))
    return pa.RecordBatch.from_arrays(arrays, schema=service.schema)


def located_zones(locator, lon: pa.Array, lat: pa.Array) -> pa.Array:
    """The zone of each (lon, lat): UNKNOWN_ZONE where a coordinate is missing (or was 0),
    OUTSIDE_ZONES where the point is in no zone - the codes the TLC's later files use."""
    x = lon.to_numpy(zero_copy_only=False)  # nulls are NaN
    y = lat.to_numpy(zero_copy_only=False)
    zones = locator.locate(x, y)
    zones[zones == 0] = OUTSIDE_ZONES
    zones[np.isnan(x) | np.isnan(y)] = UNKNOWN_ZONE
    return pa.array(zones, pa.int32())


def cast_column(values: pa.Array, column: Column, value_map, where) -> pa.Array:
    target = column.type
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    if pa.types.is_dictionary(values.type):
        values = values.dictionary_decode()
    if pa.types.is_null(values.type):
        return pa.nulls(len(values), target)
    if pa.types.is_large_string(values.type):
        values = values.cast(pa.string())
    if value_map is not None and (pa.types.is_string(values.type) or pa.types.is_string(target)):
        values = _map_words(values, value_map, target, where)
    if values.type == target:
        result = values
    elif pa.types.is_integer(target):
        result = _to_integer(values, target, where)
    elif pa.types.is_timestamp(target):
        result = _to_timestamp(values, where)
    else:
        result = _cast(values, target, where)
    if column.zero_is_null:
        result = pc.if_else(pc.equal(result, 0), pa.scalar(None, target), result)
    return result


def _map_words(values: pa.Array, value_map, target: pa.DataType, where) -> pa.Array:
    """Words (and numbers written as words) -> canonical values through `value_map`."""
    text = values if pa.types.is_string(values.type) else values.cast(pa.string())
    keys = pc.utf8_lower(pc.utf8_trim_whitespace(text))
    words = pa.array(list(value_map), pa.string())
    codes = pa.array(list(value_map.values()), target)
    index = pc.index_in(keys, value_set=words)
    mapped = pc.take(codes, index)
    unmapped = pc.and_(pc.is_valid(keys), pc.is_null(index))
    if not pc.any(unmapped).as_py():
        return mapped
    if pa.types.is_integer(target):
        # Digits are the code they spell (rate_code "1".."6" in 2010); words must be mapped.
        digits = pc.match_substring_regex(keys, r"^-?[0-9]+(\.0*)?$")
        bad = pc.and_(unmapped, pc.invert(digits))
        if pc.any(bad).as_py():
            _fail_at(bad, values, where, f"is not a known {where.column} word ({', '.join(value_map)})")
        parsed = pc.cast(pc.cast(pc.if_else(unmapped, keys, None), pa.float64()), target)
        return pc.coalesce(mapped, parsed)
    _fail_at(unmapped, values, where, f"is not a known {where.column} value ({', '.join(value_map)})")


def _to_integer(values: pa.Array, target: pa.DataType, where) -> pa.Array:
    if pa.types.is_floating(values.type):
        fraction = pc.not_equal(pc.floor(values), values)  # NaN != NaN: NaN is flagged too
        if pc.any(fraction).as_py():
            _fail_at(fraction, values, where, f"is not a whole number, so not {target}")
    elif pa.types.is_string(values.type):
        return _cast(values, target, where)
    try:
        return values.cast(target)  # safe cast: overflow raises
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        info = _limits(target)
        low, high = pa.scalar(info[0], values.type), pa.scalar(info[1], values.type)
        out = pc.or_(pc.less(values, low), pc.greater(values, high))
        _fail_at(out, values, where, f"is out of range for {target}")


def _limits(target: pa.DataType) -> tuple[int, int]:
    bits = target.bit_width
    return -(2 ** (bits - 1)), 2 ** (bits - 1) - 1


def _to_timestamp(values: pa.Array, where) -> pa.Array:
    if pa.types.is_timestamp(values.type):
        # Naive wall-clock NYC time; a tz-aware column would mean a new layout, keep it naive.
        plain = values.cast(pa.timestamp(values.type.unit)) if values.type.tz else values
        return plain.cast(TIMESTAMP, safe=False)  # ns -> us drops sub-microseconds only
    return _cast(values, TIMESTAMP, where)  # text (yellow 2009) parses as ISO 8601


def _cast(values: pa.Array, target: pa.DataType, where) -> pa.Array:
    try:
        return values.cast(target)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as err:
        # Find the first value that fails on its own, to name its row.
        for i, value in enumerate(values):
            if not value.is_valid:
                continue
            try:
                pa.array([value.as_py()], values.type).cast(target)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                _raise(where, i, value.as_py(), f"cannot be read as {target}")
        raise BadTripFile(
            f"{where.label}, column {where.column!r}: cannot read it as {target} ({err})"
        ) from None


def _fail_at(mask: pa.Array, values: pa.Array, where, reason: str):
    i = pc.index(pc.fill_null(mask, False), True).as_py()
    _raise(where, i, values[i].as_py(), reason)


def _raise(where: Where, i: int, value, reason: str):
    raise BadTripFile(
        f"{where.label}, {where.unit} {where.first + i}, column {where.column!r}: {value!r} {reason}."
    )


def month_value(source_month) -> pa.Scalar:
    return pa.scalar(source_month, TIMESTAMP)

