"""How many rows of a month are in each target: the lake, the warehouse and Postgres.

    python -m taxi_pipeline.report --month 2021-01 [--job yellow_taxi_job | --service yellow ...] [--check]
        [--top-zones 5]

`--check` exits non-zero unless every target holds the month and all counts agree.
`--top-zones N` also prints the revenue mart's top N pickup zones and where the dashboard
page is (the models' and the dashboards' output).
"""

from __future__ import annotations

import argparse
import contextlib
import sys

from taxi_pipeline.defs.resources import pipeline_resources
from taxi_pipeline.marts import REVENUE_MART, top_zones
from taxi_pipeline.services import SERVICES
from taxi_pipeline.targets import TARGETS, counts_agree, month_counts

JOB_SERVICES = {service.job_name: [name] for name, service in SERVICES.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--month", required=True, help="partition key, YYYY-MM")
    parser.add_argument("--service", "--color", dest="service", action="append", choices=sorted(SERVICES))
    parser.add_argument("--job", choices=sorted(JOB_SERVICES), help="the services a job loads")
    parser.add_argument("--check", action="store_true", help="fail unless all targets agree")
    parser.add_argument("--top-zones", type=int, default=0, metavar="N",
                        help="also the revenue mart's top N pickup zones and the dashboard's page")
    args = parser.parse_args(argv)
    resources = pipeline_resources()
    with contextlib.ExitStack() as stack:
        lake, warehouse, postgres, dbt = (
            stack.enter_context(resources[key].process_config_and_initialize_cm())
            for key in ("lake_io_manager", "warehouse", "postgres", "dbt")
        )
        storage = lake.storage()
        status = _print_counts(args, storage, warehouse, postgres)
        if args.top_zones:
            _print_top_zones(args.top_zones, storage, warehouse, dbt.models_schema)
        return status


def _print_top_zones(count: int, lake, warehouse, models_schema: str) -> None:
    rows = top_zones(warehouse, models_schema, count)
    print(f"\nTop pickup zones by revenue ({models_schema}.{REVENUE_MART}):")
    if rows is None:
        print("  (no revenue mart yet: run trip_models_job and models_job)")
    for zone, revenue, trips in rows or []:
        print(f"  {zone:40} {float(revenue):>14,.2f} USD {int(trips):>10,} trips")
    page = "dashboard/index.html"
    where = lake.uri(page) if lake.exists(page) else "not drawn yet (run dashboard_job)"
    print(f"\nThe dashboard: {where}")


def _print_counts(args, lake, warehouse, postgres) -> int:
    ok = True
    print(f"{'service':8} {'month':8} " + " ".join(f"{t:>14}" for t in TARGETS))
    for service in args.service or JOB_SERVICES.get(args.job) or list(SERVICES):
        counts = month_counts(service, args.month, lake, warehouse, postgres)
        cells = " ".join(f"{'-' if v is None else v:>14}" for v in counts.values())
        print(f"{service:8} {args.month:8} {cells}")
        ok = ok and counts_agree(counts)
    if args.check and not ok:
        print("CHECK FAILED: a target is missing the month or the counts differ", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
