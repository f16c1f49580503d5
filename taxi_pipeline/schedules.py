"""One monthly schedule per color job, at the course's cadence: the 1st, green 09:00,
yellow 10:00, fhv 11:00 (UTC). Each tick runs the month that just ended. They are off
by default: turn them on in the UI (Automation) with the daemon running."""

from dagster import DefaultScheduleStatus, build_schedule_from_partitioned_job

from taxi_pipeline.colors import COLORS
from taxi_pipeline.jobs import color_jobs

color_schedules = [
    build_schedule_from_partitioned_job(
        color_jobs[name],
        name=f"{name}_monthly_schedule",
        hour_of_day=color.schedule_hour,
        minute_of_hour=0,
        default_status=DefaultScheduleStatus.STOPPED,
    )
    for name, color in COLORS.items()
]
