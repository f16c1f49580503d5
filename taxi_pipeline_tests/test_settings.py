"""Hostile settings (settings.py): every setting refuses a bad value when the definitions
load, in one line naming the variable and what it accepts (never a secret's value), or
uses the value verbatim; and every name reaching SQL is quoted, so even a value that
passed cannot change a statement. The README's variable table says what each accepts."""

from __future__ import annotations

import functools
import re
import subprocess
import sys

import duckdb
import pytest
from dagster import AssetSelection, TimeWindow, materialize
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from psycopg import sql

from taxi_pipeline import settings as taxi_settings
from taxi_pipeline.io_managers.dagster_internals import TablePartitionDimension, TableSlice
from taxi_pipeline.io_managers.warehouse import TransactionalDuckDbClient
from taxi_pipeline.resources.postgres import PostgresResource
from taxi_pipeline.settings import SETTINGS, SettingError, check
from taxi_pipeline.sources import SOURCES
from taxi_pipeline.sql_names import bigquery_name, duckdb_name
from taxi_pipeline_tests.definitions import all_checks, assets_for
from taxi_pipeline_tests.services import resources_with_postgres

from .conftest import REPO

HOSTILE = [
    "x;drop table y", "a'b", 'a"b', "a`b", "a b", "a\nb", "a\tb", "a\rb", "caf\u00e9", "\u65e5\u672c",
    "..", "../../etc", "", " ", "x" * 5000, "\u202eevil", "a\\b", "$(rm -rf /)", "%00", "ftp://x/y",
    "http://", "file:relative", "-1", "0", "1e9", "nan", "2008-12", "2021-13", "{", '{"a": 1}',
]
SECRET = "s3cr3t-\u00e9;'\"value"


def _refusal(name: str, value: str) -> str | None:
    try:
        check({name: value})
    except SettingError as err:
        return str(err)
    return None


@pytest.mark.parametrize("name", sorted(SETTINGS))
def test_every_setting_refuses_a_hostile_value_in_one_line_naming_it(name):
    for value in HOSTILE:
        message = _refusal(name, value)
        if message is None:
            continue  # accepted: used verbatim (the quoting tests below)
        assert message.startswith(f"{name}=") and "\n" not in message and "\r" not in message, message
        assert SETTINGS[name].accepts in message
        assert len(message) < 600, message  # a 5000-character value is cut
        if SETTINGS[name].secret and len(value.strip()) > 3:  # a long enough value to be findable
            assert value not in message.replace(SETTINGS[name].accepts, ""), message


@pytest.mark.parametrize("name", sorted(n for n, s in SETTINGS.items() if s.secret))
def test_a_secret_is_never_shown(name):
    hostile = {"TAXI_PG_PASSWORD": SECRET + "\x00", "GCP_CREDENTIALS": '{"type": "' + SECRET}.get(
        name, "ftp://user:" + SECRET + "@host/")
    message = _refusal(name, hostile)
    assert message is not None and "s3cr3t" not in message and "(a secret, not shown)" in message


@pytest.mark.parametrize(("name", "value"), [
    ("TAXI_WAREHOUSE_SCHEMA", "x;drop table y"),  # the issue's: DuckDB ran the DROP
    ("TAXI_SOURCE_URL", "ftp://example.org/data"),  # failed after retries, naming no variable
    ("TAXI_FRESHNESS_HOURS", "-1"),  # was accepted
    ("TAXI_MODELS_SCHEMA", "models; select 1"),
    ("BQ_DATASET", "ny-taxi"),
    ("GCS_BUCKET", "bucket/../other"),
    ("TAXI_PG_PORT", "5432; x"),
    ("TAXI_AUTOMATION_SINCE", "2008-01"),
])
def test_the_mistakes_the_issue_found_are_caught(name, value):
    message = _refusal(name, value)
    assert message is not None and message.startswith(f"{name}={value!r} is not accepted")


@pytest.mark.parametrize(("name", "value"), [
    ("TAXI_WAREHOUSE_SCHEMA", "prod"), ("TAXI_WAREHOUSE_SCHEMA", "donn\u00e9es_2026"),
    ("TAXI_PG_DB", "ny taxi"), ("TAXI_PG_DB", 'ny "taxi"'), ("TAXI_PG_VIEWS_SCHEMA", 'a"b'),
    ("TAXI_PG_VIEWS_SCHEMA", ""), ("TAXI_SOURCE_URL", "file:///srv/mirror"), ("TAXI_PG_HOST", "/tmp/pg"),
    ("TAXI_PG_HOST", "db.example.internal"), ("TAXI_FRESHNESS_HOURS", "1.5"), ("GCS_BUCKET", "lake/raw-2026"),
    ("GCP_PROJECT", "my-project-123"), ("BQ_LOCATION", "europe-west1"), ("TAXI_DATA_DIR", "../data dir"),
])
def test_values_that_work_today_keep_working(name, value):
    assert _refusal(name, value) is None


@pytest.mark.slow  # a child load (the marker's rule)
def test_a_bad_setting_fails_when_the_definitions_load_in_one_line():
    script = "from taxi_pipeline.definitions import defs\ndefs()\n"
    env = {"PATH": "/usr/bin:/bin", "TAXI_WAREHOUSE_SCHEMA": "x;drop table y", "TAXI_PG_PASSWORD": SECRET}
    run = subprocess.run([sys.executable, "-c", script], cwd=REPO, env=env, capture_output=True, text=True)
    assert run.returncode != 0
    expected = ("TAXI_WAREHOUSE_SCHEMA='x;drop table y' is not accepted: it takes "
                f"{SETTINGS['TAXI_WAREHOUSE_SCHEMA'].accepts}")
    assert expected in run.stderr
    assert "s3cr3t" not in run.stderr


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(name=st.sampled_from(sorted(SETTINGS)), value=st.text(max_size=300))
def test_any_value_is_accepted_or_refused_in_one_line(name, value):
    message = _refusal(name, value)
    if message is not None:
        assert message.startswith(f"{name}=") and "\n" not in message
        if SETTINGS[name].secret and len(value.strip()) > 3:
            assert value not in message.replace(SETTINGS[name].accepts, "")


NAMES = st.text(st.characters(blacklist_categories=["Cs"], blacklist_characters="\x00"),
                min_size=1, max_size=60)


@functools.cache
def _scratch_duckdb():
    """One in-memory DuckDB for every example (a connection each was 2.5 s of the 200):
    each example removes what it made."""
    conn = duckdb.connect()
    conn.execute("CREATE TABLE main.y AS SELECT 42 AS answer")
    return conn


@settings(max_examples=200, deadline=None)
@given(schema=NAMES)
def test_any_schema_name_is_used_verbatim_by_the_duckdb_warehouse_and_changes_nothing_else(schema):
    """Even a name the settings refuse: quoted, it names a schema and runs no SQL."""
    conn = _scratch_duckdb()
    table = duckdb_name(schema, "t")
    before = conn.execute("SELECT schema_name FROM information_schema.schemata").fetchall()
    try:
        table_slice = TableSlice(table="t", schema=schema, database="memory", partition_dimensions=[])
        TransactionalDuckDbClient.ensure_schema_exists(None, table_slice, conn)
        after = conn.execute("SELECT schema_name FROM information_schema.schemata").fetchall()
        assert sorted(set(after) - set(before)) in ([(schema,)], [])  # [] when `schema` existed (main)
        conn.execute(f"CREATE TABLE {table} AS SELECT 1 AS source_month")
        TransactionalDuckDbClient.delete_table_slice(None, table_slice, conn)
        assert conn.execute(f"SELECT count(*) FROM {table}").fetchone() == (0,)
        assert conn.execute("SELECT answer FROM main.y").fetchall() == [(42,)]
    finally:
        conn.execute(f"DROP TABLE IF EXISTS {table}")
        if (schema,) not in before:
            conn.execute(f"DROP SCHEMA IF EXISTS {duckdb_name(schema)}")


def test_a_month_is_deleted_by_a_quoted_bounded_statement():
    from datetime import UTC, datetime

    window = TimeWindow(datetime(2021, 1, 1, tzinfo=UTC), datetime(2021, 2, 1, tzinfo=UTC))
    table_slice = TableSlice(table='t"x', schema="s;drop", database="memory",
                             partition_dimensions=[TablePartitionDimension("source_month", window)])
    table = duckdb_name("s;drop", 't"x')
    with duckdb.connect() as conn:
        conn.execute(f"CREATE SCHEMA {duckdb_name('s;drop')}")
        conn.execute(f"CREATE TABLE {table} AS SELECT * FROM (VALUES (TIMESTAMP '2020-12-01'), "
                     "(TIMESTAMP '2021-01-01'), (TIMESTAMP '2021-02-01')) v(source_month)")
        TransactionalDuckDbClient.delete_table_slice(None, table_slice, conn)
        left = conn.execute(f"SELECT source_month FROM {table} ORDER BY 1").fetchall()
    assert [m.month for (m,) in left] == [12, 2]
    statement = TransactionalDuckDbClient.get_select_statement(table_slice)
    assert statement.startswith('SELECT * FROM "s;drop"."t""x" WHERE "source_month" >= \'2021-01-01')


def test_bigquery_names_are_backquoted_and_a_backquote_is_refused():
    assert bigquery_name("p", "d", "t") == "`p.d.t`"
    with pytest.raises(ValueError):
        bigquery_name("p", "d`; DROP TABLE x; --", "t")


def test_the_readme_table_says_what_each_setting_accepts():
    readme = (REPO / "README.md").read_text()
    rows = {m.group(1): m.group(0) for m in re.finditer(r"^\| `([A-Z_]+)` \|.*$", readme, re.M)}
    missing = [name for name in SETTINGS if name not in rows]
    assert missing == []
    wrong = [name for name, s in SETTINGS.items() if s.accepts not in rows[name]]
    assert wrong == []


def test_reading_a_setting_checks_it_too(monkeypatch):
    monkeypatch.setenv("TAXI_AUTOMATION_MONTHS", "abc")
    with pytest.raises(SettingError, match=r"^TAXI_AUTOMATION_MONTHS='abc' is not accepted"):
        taxi_settings.value("TAXI_AUTOMATION_MONTHS")


@pytest.mark.slow  # a month through every target
def test_a_month_loads_verbatim_under_unusual_names_that_are_accepted(
        tmp_path, http_mirror, embedded_postgres_dir, monkeypatch):
    """A schema in unicode, a database with a space and quotes, a views schema with a quote
    and a semicolon: each used as it is, the month in every target, no other name made."""
    schema, database, views = "donn\u00e9es_2026", 'ny taxi "q"', 'a"b; drop table x'
    monkeypatch.setenv("TAXI_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("TAXI_SOURCE", "course")
    monkeypatch.setenv("TAXI_SOURCE_URL", http_mirror.url)
    monkeypatch.setenv("TAXI_WAREHOUSE_SCHEMA", schema)
    monkeypatch.setenv("TAXI_PG_VIEWS_SCHEMA", views)
    monkeypatch.delenv("TAXI_PG_HOST", raising=False)
    check()
    resources = resources_with_postgres(PostgresResource(embedded_data_dir=str(embedded_postgres_dir),
                                                         database=database))
    source = SOURCES[taxi_settings.value("TAXI_SOURCE")]
    result = materialize([*assets_for(source), *all_checks(source)], selection=AssetSelection.groups("green"),
                         partition_key="2019-02", resources=resources)
    assert result.success
    rows = http_mirror.rows("green", "2019-02")
    with duckdb.connect(str(tmp_path / "data" / "warehouse.duckdb"), read_only=True) as conn:
        schemas = {s for (s,) in conn.execute("SELECT schema_name FROM information_schema.schemata "
                                              "WHERE catalog_name = 'warehouse'").fetchall()}
        assert schemas == {"main", schema}
        table = duckdb_name(schema, "green_tripdata")
        assert conn.execute(f"SELECT count(*) FROM {table}").fetchone() == (rows,)
    with resources["postgres"].connect() as conn:
        assert conn.execute("SELECT current_database()").fetchone() == (database,)
        names = {s for (s,) in conn.execute("SELECT nspname FROM pg_namespace WHERE nspname !~ '^pg_' "
                                            "AND nspname <> 'information_schema'").fetchall()}
        assert names == {"public", views}
        view = sql.Identifier(views, "green_tripdata")
        assert conn.execute(sql.SQL("SELECT count(*) FROM {}").format(view)).fetchone() == (rows,)
