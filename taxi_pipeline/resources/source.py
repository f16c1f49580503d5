"""The source over HTTP: URLs, version tokens, streaming downloads, integrity checks."""

from __future__ import annotations

import email.utils
import random
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from dagster import ConfigurableResource, get_dagster_logger
from pydantic import Field

from taxi_pipeline.gzip_stream import GzipVerifier, SourceFileCorrupt
from taxi_pipeline.services import TaxiService
from taxi_pipeline.sources import SOURCES, Source, SourceMonthUnavailable

CHUNK_BYTES = 1 << 20
PROGRESS_EVERY_BYTES = 16 << 20
MISSING_STATUSES = (403, 404)
"""404, and 403: the official CDN's answer for a month it has not published."""
BUSY_STATUSES = (429, 500, 502, 503, 504)
HEAD_ATTEMPTS = 4
TLC_ONLY_PATHS = frozenset({"misc/taxi_zones.zip"})
"""Files the course's mirror does not have: taken from the TLC whatever the source."""


class SourceFileMissing(Exception):
    """The source has no file at this URL (HTTP 403/404 or no such file)."""


class TransientSourceError(Exception):
    """The transfer broke off, or the server is busy; worth retrying."""


def version_token(headers) -> str:
    """What identifies one version of a source file: its ETag, else Last-Modified + size.

    urllib gives the same headers for a `file://` URL, so mirrors version the same way.
    """
    etag = headers.get("ETag")
    if etag:
        return etag.strip('"')
    return f"{headers.get('Last-Modified')}|{headers.get('Content-Length')}"


def published_at(headers) -> datetime | None:
    """When the source last (re-)published the file (its Last-Modified), if it says."""
    stamp = headers.get("Last-Modified")
    return email.utils.parsedate_to_datetime(stamp) if stamp else None


@dataclass(frozen=True)
class Download:
    url: str
    seconds: float
    version: str


class TaxiSourceResource(ConfigurableResource):
    """Where the monthly files come from: `source` (`tlc` or `course`, see
    `taxi_pipeline/sources/`) under `base_url`.

    `http(s)://` and `file://` base URLs both work, so tests and the offline demo use a
    local mirror laid out like the source.
    """

    source: str = Field(default="tlc", description="tlc (official Parquet) or course (csv.gz mirror).")
    base_url: str = Field(description="Base URL of the source.")
    tlc_base_url: str | None = Field(
        default=None, description="Base URL of the files only the TLC publishes (the zone shapes); "
        "unset: base_url.")
    timeout_seconds: float = Field(default=60.0, description="Socket timeout per read.")
    backoff_seconds: float = Field(default=1.0, description="First backoff of a busy HEAD request.")

    @property
    def layout(self) -> Source:
        return SOURCES[self.source]

    def url_for(self, relative_path: str) -> str:
        if relative_path in TLC_ONLY_PATHS and self.tlc_base_url:
            return f"{self.tlc_base_url.rstrip('/')}/{relative_path}"
        return f"{self.base_url.rstrip('/')}/{relative_path}"

    def month_path(self, service: TaxiService, month: str) -> str:
        return self.layout.month_path(service, month)

    def versioned(self, token: str) -> str:
        """A month's data version: the source's name and its file's version, so switching
        source re-materializes a month as surely as a re-upload does."""
        return f"{self.source}:{token}"

    def month_version(self, service: TaxiService, month: str) -> str | None:
        """The data version the month's file has at the source now; None if not published."""
        headers = self.month_head(service, month)
        return None if headers is None else self.versioned(version_token(headers))

    def month_head(self, service: TaxiService, month: str):
        """The month's file's headers (a HEAD request); None if not published."""
        try:
            self.layout.check_month(service, month)
        except SourceMonthUnavailable:
            return None
        return self.head(self.month_path(service, month))

    def version(self, relative_path: str) -> str | None:
        """The source file's version token (a HEAD request), or None if it is not there."""
        headers = self.head(relative_path)
        return None if headers is None else version_token(headers)

    def head(self, relative_path: str):
        """The source file's headers (a HEAD request), or None if it is not there.

        A busy server (429, 5xx) is asked again with exponential backoff and jitter; if
        it stays busy, TransientSourceError."""
        url = self.url_for(relative_path)
        for attempt in range(HEAD_ATTEMPTS):
            request = urllib.request.Request(url, method="HEAD")
            try:
                with urllib.request.urlopen(request, timeout=self.timeout_seconds) as response:
                    return response.headers
            except urllib.error.HTTPError as err:
                if err.code in MISSING_STATUSES:
                    return None
                if err.code not in BUSY_STATUSES:
                    raise
                busy = err.code
            except urllib.error.URLError as err:
                if isinstance(err.reason, FileNotFoundError):
                    return None
                raise
            time.sleep((2**attempt) * (0.5 + random.random()) * self.backoff_seconds)
        raise TransientSourceError(
            f"{url}: the server stayed busy (HTTP {busy}) after {HEAD_ATTEMPTS} attempts."
        )

    def download_month(
        self, service: TaxiService, month: str, dest: Path, verify_gzip: bool = True
    ) -> Download:
        """The month's file, as published; SourceMonthUnavailable (one line) if the source
        does not have it. `verify_gzip` False: the caller reads the file through
        `VerifiedGzipFile` next, which proves it whole while decompressing it once."""
        self.layout.check_month(service, month)
        try:
            return self.download(self.month_path(service, month), dest, verify_gzip)
        except SourceFileMissing as err:
            raise SourceMonthUnavailable(
                f"{service.name} {month} is not published in the {self.layout.title}: {err}"
            ) from None

    def download(self, relative_path: str, dest: Path, verify_gzip: bool = True) -> Download:
        """Stream the file to `dest`, never holding it in memory; verify gzip files (unless
        `verify_gzip` is False: see `download_month`)."""
        url = self.url_for(relative_path)
        log = get_dagster_logger()
        started = time.monotonic()
        verifier = GzipVerifier(url) if verify_gzip and url.endswith(".gz") else None
        size = 0
        try:
            with urllib.request.urlopen(url, timeout=self.timeout_seconds) as response:
                expected = response.headers.get("Content-Length")
                version = version_token(response.headers)
                log.info(f"Downloading {url} ({_human(expected)})")
                with open(dest, "wb") as out:
                    next_report = PROGRESS_EVERY_BYTES
                    while chunk := response.read(CHUNK_BYTES):
                        out.write(chunk)
                        if verifier:
                            verifier.feed(chunk)
                        size += len(chunk)
                        if size >= next_report:
                            log.info(f"{url}: {size / 2**20:.0f} MiB so far")
                            next_report += PROGRESS_EVERY_BYTES
        except urllib.error.HTTPError as err:
            if err.code in MISSING_STATUSES:
                raise SourceFileMissing(f"no file at {url} (HTTP {err.code}).") from None
            raise
        except urllib.error.URLError as err:
            if isinstance(err.reason, FileNotFoundError):
                raise SourceFileMissing(f"no file at {url} (file not found).") from None
            raise
        if expected is not None and int(expected) != size:
            raise TransientSourceError(
                f"{url}: received {size} bytes but the server announced {expected}."
            )
        # Proven complete: a gzip stream decompressed to its end on whole lines, a Parquet
        # file by its footer. Other files (the zone CSV) are checked by the asset that reads them.
        if verifier:
            verifier.finish()
        elif url.endswith(".parquet"):  # the footer read is cheap: always
            parquet_rows_verified(dest, url)
        seconds = time.monotonic() - started
        log.info(f"Downloaded {url}: {size} bytes in {seconds:.1f} s")
        return Download(url=url, seconds=seconds, version=version)


def parquet_rows_verified(path: Path, name: str) -> int:
    """Rows from the Parquet footer: a file cut short has no footer (its last 4 bytes are
    not `PAR1`), so this proves the file complete without reading its data."""
    try:
        return pq.ParquetFile(path).metadata.num_rows
    except (pa.ArrowInvalid, OSError) as err:
        raise SourceFileCorrupt(f"{name}: not a complete Parquet file ({err}).") from None


def count_lines(binary_file) -> int:
    """Line ends in an open binary file, read in chunks (never whole into memory)."""
    return sum(chunk.count(b"\n") for chunk in iter(lambda: binary_file.read(CHUNK_BYTES), b""))


def _human(content_length: str | None) -> str:
    return f"{int(content_length) / 2**20:.1f} MiB" if content_length else "size unknown"

