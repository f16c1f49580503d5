"""Every setting the pipeline reads from the environment, in one table, each with what it
accepts: checked when the definitions load (and so by `dg check defs`), so a deployment's
mistake fails there, in one line naming the variable, its value (never a secret's) and what
it takes, instead of deep inside a run.

The README's variable table is this table's documentation (a test keeps the two equal).
Names that reach SQL are checked here to what their target accepts, and quoted where the
SQL is built too (the warehouse IO managers, the warehouse resource, Postgres, dbt): the
check catches the mistake, the quoting makes sure nothing passed on can change a statement.
"""

from __future__ import annotations

import json
import os
import re
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

MAX_SHOWN = 80
"""A value longer than this is shown cut (with its length) in an error."""


class SettingError(ValueError):
    """A setting's value is not one it accepts: one line, naming the variable."""


@dataclass(frozen=True)
class Setting:
    name: str
    accepts: str
    """What the value may be, in words: the error says it, the README's table shows it."""
    check: Callable[[str], str | None]
    """Why the value is refused ("" when `accepts` says it all), or None when it is not."""
    secret: bool = False
    empty_is_default: bool = True
    """An empty value means the default; False where empty is a value of its own."""


def _printable(value: str) -> str | None:
    if any(not ch.isprintable() for ch in value):
        return "it holds a control character (a newline, a tab, ...)"
    return None


def _choice(*allowed: str) -> Callable[[str], str | None]:
    return lambda value: None if value in allowed else ""


def _integer(low: int, high: int) -> Callable[[str], str | None]:
    def check(value: str) -> str | None:
        if not re.fullmatch(r"[0-9]+", value):
            return "it is not a whole number"
        return None if low <= int(value) <= high else "it is out of range"
    return check


def _hours(value: str) -> str | None:
    try:
        hours = float(value)
    except ValueError:
        return "it is not a number"
    return None if 0 < hours <= 8760 else "it is out of range"


def _month(value: str) -> str | None:
    match = re.fullmatch(r"(\d{4})-(\d{2})", value)
    if not match or not 1 <= int(match.group(2)) <= 12:
        return "it is not a month written YYYY-MM"
    return None if value >= "2009-01" else "it is before the TLC's first month (2009-01)"


def _url(*schemes: str) -> Callable[[str], str | None]:
    def check(value: str) -> str | None:
        if (reason := _printable(value)) or any(ch.isspace() for ch in value):
            return reason or "it holds a space"
        parsed = urllib.parse.urlsplit(value)
        if parsed.scheme not in schemes:
            return f"its scheme is {parsed.scheme + '://' if parsed.scheme else 'missing'}"
        if parsed.scheme == "file":
            return None if parsed.path.startswith("/") else "a file:// URL needs an absolute path"
        return None if parsed.hostname else "it has no host"
    return check


def _path(value: str) -> str | None:
    return _printable(value) or (None if value.strip() == value else "it starts or ends with a space")


def _file_name(value: str) -> str | None:
    return _path(value) or (None if not value.endswith(("/", os.sep)) else "it names a folder, not a file")


def _executable(value: str) -> str | None:
    if reason := _path(value):
        return reason
    try:
        return None if Path(value).is_file() and os.access(value, os.X_OK) else "no executable file is there"
    except (OSError, ValueError):  # a name too long for the file system
        return "no executable file is there"


def _pg_host(value: str) -> str | None:
    if value.startswith("/"):
        return _path(value)  # a folder holding the server's socket
    ok = re.fullmatch(r"[A-Za-z0-9]([A-Za-z0-9.-]{0,251}[A-Za-z0-9])?|\[?[0-9A-Fa-f:.]+\]?", value)
    return None if ok else "it is not a host name, an IP address or a socket folder"


def _pg_name(value: str) -> str | None:
    """Postgres takes any name in double quotes, up to 63 bytes (the pipeline quotes them)."""
    if reason := _printable(value):
        return reason
    return None if 0 < len(value.encode()) <= 63 else "it is empty or longer than 63 bytes"


def _pg_schema_or_empty(value: str) -> str | None:
    return None if value == "" else _pg_name(value)


def _duckdb_schema(value: str) -> str | None:
    """A DuckDB schema dbt and the course's tools can name too: a word, not a number."""
    return None if re.fullmatch(r"[^\W\d]\w{0,62}", value) else ""


def _bigquery_dataset(value: str) -> str | None:
    return None if re.fullmatch(r"[A-Za-z0-9_]{1,1024}", value) else ""


def _models_schema(value: str) -> str | None:
    """The models' schema is a DuckDB schema locally, a BigQuery dataset on gcp."""
    gcp = os.environ.get("TAXI_PIPELINE_ENV") == "gcp"
    return (_bigquery_dataset if gcp else _duckdb_schema)(value)


def _gcp_project(value: str) -> str | None:
    ok = re.fullmatch(r"([a-z][a-z0-9.-]{0,61}:)?[a-z][a-z0-9-]{4,28}[a-z0-9]", value)
    return None if ok else "it is not a Google Cloud project ID"


def _gcs_bucket(value: str) -> str | None:
    bucket, _, prefix = value.partition("/")
    if not re.fullmatch(r"[a-z0-9][a-z0-9_.-]{1,220}[a-z0-9]", bucket) or ".." in bucket:
        return "its bucket is not a bucket name"
    parts = prefix.rstrip("/").split("/")
    if prefix and (_printable(prefix) or any(part in ("", ".", "..") for part in parts)):
        return "its prefix is not a folder path (empty, '.' or '..' parts, control characters)"
    return None


def _bq_location(value: str) -> str | None:
    return None if re.fullmatch(r"[A-Za-z][A-Za-z0-9-]{1,62}", value) else "it is not a location name"


def _credentials(value: str) -> str | None:
    if value.lstrip().startswith("{"):
        try:
            key = json.loads(value)
        except ValueError:
            return "it starts like a key's JSON but does not parse"
        return None if isinstance(key, dict) and "type" in key else "the JSON is not a credentials key"
    try:  # not named in the error: a mangled key's JSON (its "{" lost in quoting) lands here
        return None if Path(value).is_file() else "no such key file"
    except (OSError, ValueError):  # a name too long for the file system
        return "no such key file"


SETTINGS: dict[str, Setting] = {s.name: s for s in (
    Setting("TAXI_PIPELINE_ENV", "`local` or `gcp`", _choice("local", "gcp")),
    Setting("TAXI_SOURCE", "`tlc` or `course`", _choice("tlc", "course")),
    Setting("TAXI_TLC_URL", "an `http://`, `https://` or `file://` URL", _url("http", "https", "file")),
    Setting("TAXI_SOURCE_URL", "an `http://`, `https://` or `file://` URL", _url("http", "https", "file")),
    Setting("TAXI_DATA_DIR", "a folder path", _path),
    Setting("TAXI_PG_HOST", "a host name, an IP address, or the absolute path of a socket folder", _pg_host),
    Setting("TAXI_PG_PORT", "a port number, 1-65535", _integer(1, 65535)),
    Setting("TAXI_PG_USER", "a Postgres role name: up to 63 bytes, no control characters", _pg_name),
    Setting("TAXI_PG_PASSWORD", "any text without a NUL character (a secret: never shown)",
            lambda value: "it holds a NUL character" if "\0" in value else None, secret=True),
    Setting("TAXI_PG_DB", "a Postgres database name: up to 63 bytes, no control characters (spaces and "
            "quotes are fine)", _pg_name),
    Setting("TAXI_PG_SSLMODE", "a libpq sslmode: `disable`, `allow`, `prefer`, `require`, `verify-ca`, "
            "`verify-full`", _choice("disable", "allow", "prefer", "require", "verify-ca", "verify-full")),
    Setting("TAXI_PG_VIEWS_SCHEMA", "a Postgres schema name (up to 63 bytes, no control characters), or "
            "empty for no views", _pg_schema_or_empty, empty_is_default=False),
    Setting("TAXI_WAREHOUSE_FILE", "a file name or path", _file_name),
    Setting("TAXI_WAREHOUSE_SCHEMA", "a DuckDB schema name: letters, digits and underscores, not starting "
            "with a digit, up to 63 characters", _duckdb_schema),
    Setting("TAXI_MODELS_SCHEMA", "as `TAXI_WAREHOUSE_SCHEMA` locally; on gcp as `BQ_DATASET`",
            _models_schema),
    Setting("TAXI_DBT_EXECUTABLE", "the path of an executable dbt", _executable),
    Setting("TAXI_AUTOMATION_MONTHS", "a whole number of months, 1-1200", _integer(1, 1200)),
    Setting("TAXI_AUTOMATION_SINCE", "a month, `YYYY-MM`, from 2009-01", _month),
    Setting("TAXI_FRESHNESS_HOURS", "a number of hours above 0, up to 8760", _hours),
    Setting("TAXI_ALERT_WEBHOOK_URL", "an `http://` or `https://` URL (a secret: never shown)",
            _url("http", "https"), secret=True),
    Setting("TAXI_UI_URL", "an `http://` or `https://` URL", _url("http", "https")),
    Setting("GCP_PROJECT", "a Google Cloud project ID (6-30 lower-case letters, digits and hyphens)",
            _gcp_project),
    Setting("GCS_BUCKET", "a bucket name, optionally with a folder prefix (`bucket/prefix`)", _gcs_bucket),
    Setting("BQ_DATASET", "a BigQuery dataset name: letters, digits and underscores, up to 1024",
            _bigquery_dataset),
    Setting("BQ_LOCATION", "a BigQuery location (`US`, `EU`, `europe-west1`, ...)", _bq_location),
    Setting("GCP_CREDENTIALS", "the path of a service-account key file, or the key's JSON (a secret: never "
            "shown)", _credentials, secret=True),
    Setting("GCS_UPLOAD_CHUNK_MIB", "a whole number of MiB, 1-1024", _integer(1, 1024)),
)}


def shown(setting: Setting, value: str) -> str:
    """The value as an error shows it: quoted on one line, cut when long, never a secret."""
    if setting.secret:
        return "(a secret, not shown)"
    text = repr(value)
    return text if len(text) <= MAX_SHOWN else f"{text[:MAX_SHOWN]}... ({len(value)} characters)"


def refusal(name: str, value: str) -> str | None:
    """Why `name`'s value is refused (the one line of its error), or None."""
    setting = SETTINGS[name]
    if value == "" and setting.empty_is_default:
        return None
    reason = setting.check(value)
    if reason is None:
        return None
    because = f" ({reason})" if reason else ""
    return f"{name}={shown(setting, value)} is not accepted{because}: it takes {setting.accepts}."


def check(environ: Mapping[str, str] | None = None) -> None:
    """Every setting that is set (an empty one means its default) against what it accepts;
    a SettingError with one line per refused variable."""
    environ = os.environ if environ is None else environ
    refused = [line for name in SETTINGS if name in environ
               if (line := refusal(name, environ[name])) is not None]
    if refused:
        raise SettingError(" ".join(refused))


def value(name: str, default: str | None = None) -> str | None:
    """A setting's value once checked (its default when unset or empty)."""
    raw = os.environ.get(name)
    if raw is None or (raw == "" and SETTINGS[name].empty_is_default):
        return default
    if (line := refusal(name, raw)) is not None:
        raise SettingError(line)
    return raw
