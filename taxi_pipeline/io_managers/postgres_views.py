"""Lower-case views over the Postgres tables, for SQL written the way the course's dbt
project writes it.

Postgres folds unquoted names to lower case, so the course's dbt models (`vendorid`,
`pulocationid`, sources `trips_data_all.green_tripdata`) cannot read tables whose columns
are the quoted mixed-case names the week-1 SQL needs (`"PULocationID"`). One schema of
views (`trips_data_all` by default) serves the first; the tables keep serving the second.

A view is replaced only when its columns differ from the table's (the table was just
created or gained columns), with CREATE OR REPLACE VIEW: new columns go at the end, so
views that dbt built on top of it keep working. A relation of that name that this
pipeline did not make (no `taxi_pipeline:` comment) stops the load, like a foreign table.
"""

from __future__ import annotations

from psycopg import sql

from taxi_pipeline.io_managers.evolution import TableInTheWay

VIEW_MARKER = "taxi_pipeline:"


def ensure_view(conn, table_schema: str, table: str, view_schema: str, view: str) -> bool:
    """Create or update `view_schema.view` over `table_schema.table`; True if it changed.

    Runs inside the caller's transaction, under its lock on the table; a second advisory
    lock serializes the schema's creation between services loading at the same time."""
    columns = relation_columns(conn, table_schema, table)
    wanted = [name.lower() for name in columns]
    relation = conn.execute(
        "SELECT c.relkind, coalesce(obj_description(c.oid, 'pg_class'), '') FROM pg_class c "
        "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = %s AND c.relname = %s",
        [view_schema, view],
    ).fetchone()
    if relation and (relation[0] != "v" or not relation[1].startswith(VIEW_MARKER)):
        kind = "view" if relation[0] == "v" else "table"
        raise TableInTheWay(
            f"Postgres {kind} {view_schema}.{view} exists but was not created by taxi_pipeline, "
            f"which keeps a lower-case view of {table_schema}.{table} there. Rename or drop it, "
            "or choose another schema for the views (TAXI_PG_VIEWS_SCHEMA)."
        )
    if relation and relation_columns(conn, view_schema, view) == wanted:
        return False
    conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [f"schema {view_schema}"])
    conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(view_schema)))
    target = sql.Identifier(view_schema, view)
    select = sql.SQL(", ").join(
        sql.SQL("{} AS {}").format(sql.Identifier(name), sql.Identifier(name.lower())) for name in columns
    )
    conn.execute(
        sql.SQL("CREATE OR REPLACE VIEW {} AS SELECT {} FROM {}").format(
            target, select, sql.Identifier(table_schema, table)
        )
    )
    comment = f"{VIEW_MARKER} {table_schema}.{table} with lower-case column names"
    conn.execute(sql.SQL("COMMENT ON VIEW {} IS {}").format(target, sql.Literal(comment)))
    return True


def relation_columns(conn, schema: str, relation: str) -> list[str]:
    return [
        name
        for (name,) in conn.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = %s "
            "AND table_name = %s ORDER BY ordinal_position",
            [schema, relation],
        ).fetchall()
    ]
