"""Freshness tied to the source: the newest month the source has published must be in the
warehouse within a stated time of its publication.

Not a fixed calendar lag: the TLC publishes irregularly (a month ~2 months after it ends,
sometimes weeks later, and re-uploads old months), so the check asks the source which
month is newest and when its file was published (Last-Modified), and fails once that
month - or its re-upload - has waited longer than `late_after` without being loaded. A
check that turns from passing to failing posts to the alert webhook, once per late month.
"""


from datetime import UTC, datetime, timedelta

from dagster import (
    AssetCheckExecutionContext,
    AssetCheckKey,
    AssetCheckResult,
    AssetChecksDefinition,
    AssetCheckSeverity,
    asset_check,
)

from taxi_pipeline.assets.keys import trip_asset_keys
from taxi_pipeline.io_managers.dagster_internals import AssetCheckExecutionRecordStatus
from taxi_pipeline.materializations import stored_version
from taxi_pipeline.resources.alerts import AlertWebhookResource
from taxi_pipeline.resources.source import TaxiSourceResource
from taxi_pipeline.services import TaxiService
from taxi_pipeline.source_months import LOOKBACK_MONTHS, newest_published

FRESHNESS_CHECK = "newest_month_loaded"


def _now() -> datetime:
    return datetime.now(UTC)


def freshness_check_key(service: TaxiService) -> AssetCheckKey:
    return AssetCheckKey(trip_asset_keys(service).warehouse, FRESHNESS_CHECK)


def freshness_check(service: TaxiService, late_after: timedelta) -> AssetChecksDefinition:
    keys = trip_asset_keys(service)
    hours = round(late_after.total_seconds() / 3600, 1)

    @asset_check(
        asset=keys.warehouse,
        name=FRESHNESS_CHECK,
        description=f"The newest {service.name} month the source has published (and its latest "
        f"upload) is in the warehouse within {hours} h of its publication (TAXI_FRESHNESS_HOURS).",
    )
    def newest_month_loaded(
        context: AssetCheckExecutionContext, source: TaxiSourceResource, alerts: AlertWebhookResource
    ) -> AssetCheckResult:
        now = _now()
        found = newest_published(source, service, now)
        if found is None:
            none = f"The source has no {service.name} month in the last {LOOKBACK_MONTHS}."
            return AssetCheckResult(passed=True, description=none)
        month, version, published_at = found
        in_warehouse = month in context.instance.get_materialized_partitions(keys.warehouse)
        current = in_warehouse and stored_version(context.instance, keys.raw, month) == version
        waited = now - published_at if published_at else None
        metadata = {
            "newest_published_month": month,
            "published_at": published_at.isoformat() if published_at else "unknown",
            "hours_since_publication": round(waited.total_seconds() / 3600, 1) if waited is not None else -1,
            "loaded": current,
            "late_after_hours": hours,
        }
        if current:
            return AssetCheckResult(passed=True, metadata=metadata,
                                    description=f"{service.name} {month}, the newest published, is loaded.")
        what = f"{service.name} {month}" + (" (re-uploaded)" if in_warehouse else "")
        if waited is not None and waited <= late_after:
            waiting = f"{what} was published {metadata['hours_since_publication']} h ago: not late yet."
            return AssetCheckResult(passed=True, metadata=metadata, description=waiting)
        text = (f"{what}, the newest month the source has published, is not in the warehouse "
                f"{metadata['hours_since_publication']} h after its publication (late after {hours} h).")
        _alert_once(context, alerts, month, text)
        return AssetCheckResult(passed=False, severity=AssetCheckSeverity.ERROR, metadata=metadata,
                                description=text)

    return newest_month_loaded


def _alert_once(context: AssetCheckExecutionContext, alerts: AlertWebhookResource, month: str, text: str):
    """Posts when the check turns from passing (or never run) to failing for this month."""
    done = {AssetCheckExecutionRecordStatus.SUCCEEDED, AssetCheckExecutionRecordStatus.FAILED}
    records = context.instance.event_log_storage.get_asset_check_execution_history(
        context.check_specs[0].key, limit=1, status=done
    )
    evaluation = records[0].evaluation if records else None
    month_before = evaluation.metadata.get("newest_published_month") if evaluation else None
    if evaluation is not None and not evaluation.passed and month_before and month_before.value == month:
        return  # already alerted for this month
    alerts.send(f":hourglass: taxi_pipeline freshness\n{text}")
