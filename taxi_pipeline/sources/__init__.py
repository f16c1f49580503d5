"""The two sources of the monthly files, as data: where a month's file is, in which
format, and which months a source can ever have.

`TAXI_SOURCE` picks one for the whole code location (the raw zone keeps the file as
published, so the raw asset's file type follows the source).
"""

from __future__ import annotations

from taxi_pipeline.settings import value as setting
from taxi_pipeline.sources.base import Source, SourceMonthUnavailable
from taxi_pipeline.sources.course import COURSE
from taxi_pipeline.sources.tlc import TLC

SOURCES: dict[str, Source] = {s.name: s for s in (TLC, COURSE)}
DEFAULT_SOURCE = TLC.name
"""The official files: every service, every month, revised as the TLC revises them.
Course homework answers come from `course` (see README, "Sources")."""


def source_name() -> str:
    name = setting("TAXI_SOURCE", DEFAULT_SOURCE)
    if name not in SOURCES:
        raise ValueError(f"TAXI_SOURCE={name!r} is not a source; choose one of {sorted(SOURCES)}.")
    return name


def current_source() -> Source:
    return SOURCES[source_name()]


__all__ = ["SOURCES", "DEFAULT_SOURCE", "Source", "SourceMonthUnavailable", "source_name", "current_source"]
