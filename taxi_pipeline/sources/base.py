"""What every source declares: file layout, URL variable, and the months it can have."""

from __future__ import annotations

from dataclasses import dataclass, field

from taxi_pipeline.services import TaxiService


class SourceMonthUnavailable(Exception):
    """The chosen source does not have this service-month (and never will, or not yet)."""


@dataclass(frozen=True)
class Source:
    name: str
    title: str
    suffix: str
    """The file type as published: `.parquet` or `.csv.gz`."""
    url_variable: str
    default_url: str
    month_template: str
    """Path of a month's file under the base URL; `{service}`, `{file}` are filled in."""
    months: dict[str, tuple[str, str]] | None = field(default=None)
    """service -> (first, last) month the source has; None: whatever the TLC published."""

    def month_path(self, service: TaxiService, month: str) -> str:
        return self.month_template.format(service=service.name, file=service.file_name(month, self.suffix))

    def check_month(self, service: TaxiService, month: str) -> None:
        """Raise SourceMonthUnavailable when this source cannot have the month at all."""
        if month < service.first_month:
            raise SourceMonthUnavailable(
                f"{service.name} {month} does not exist: the TLC's {service.name} files start at "
                f"{service.first_month}."
            )
        if self.months is None:
            return
        span = self.months.get(service.name)
        if span is None or not span[0] <= month <= span[1]:
            has = ", ".join(f"{name} {a}..{b}" for name, (a, b) in self.months.items())
            raise SourceMonthUnavailable(
                f"{service.name} {month} is not in the {self.title} (it has {has}); "
                "set TAXI_SOURCE=tlc for the official files."
            )
