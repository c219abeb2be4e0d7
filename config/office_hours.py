"""Office hours: the daily periods of a working day (OFFICE_HOURS), e.g. ``09:00-12:00,13:00-17:00``.

A setting's value type, so it lives with the settings: config/settings.py validates OFFICE_HOURS with it at start-up
(config imports nothing above it), and delegation.calendar / delegation.deadlines compute with it. Pure Python.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import time


DEFAULT_OFFICE_HOURS_SPEC = "09:00-12:00,13:00-17:00"
_CLOCK = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")


def _parse_clock(text: str, period: str) -> time:
    m = _CLOCK.match(text.strip())
    if not m:
        raise ValueError(f"office hours period {period!r}: {text.strip()!r} is not a HH:MM time")
    return time(int(m.group(1)), int(m.group(2)))


def _minutes(t: time) -> int:
    return t.hour * 60 + t.minute


@dataclass(frozen=True, slots=True)
class OfficeHours:
    """Daily office periods of a working day, e.g. ``09:00-12:00,13:00-17:00``.

    Periods must be ordered and non-overlapping; touching periods are allowed.
    """

    periods: tuple[tuple[time, time], ...] = ((time(9), time(12)), (time(13), time(17)))

    def __post_init__(self) -> None:
        if not self.periods:
            raise ValueError("office hours: at least one period is required")
        previous: tuple[time, time] | None = None
        for start, end in self.periods:
            label = f"{start:%H:%M}-{end:%H:%M}"
            if start >= end:
                raise ValueError(f"office hours period {label!r}: start must be before end")
            if previous is not None and start < previous[1]:
                problem = "is out of order" if start < previous[0] else "overlaps the previous period"
                raise ValueError(f"office hours period {label!r} {problem}; periods must be ordered and non-overlapping")
            previous = (start, end)

    @classmethod
    def parse(cls, spec: str = DEFAULT_OFFICE_HOURS_SPEC) -> OfficeHours:
        if not spec or not spec.strip():
            raise ValueError("office hours: empty specification")
        periods = []
        for part in spec.split(","):
            bounds = part.split("-")
            if len(bounds) != 2:
                raise ValueError(f"office hours period {part.strip()!r}: expected HH:MM-HH:MM")
            periods.append((_parse_clock(bounds[0], part.strip()), _parse_clock(bounds[1], part.strip())))
        return cls(tuple(periods))

    @property
    def open(self) -> time:
        return self.periods[0][0]

    @property
    def close(self) -> time:
        """End of the last period: a working-day deadline falls here."""
        return self.periods[-1][1]

    @property
    def minutes_per_day(self) -> int:
        return sum(_minutes(end) - _minutes(start) for start, end in self.periods)

    def __str__(self) -> str:
        return ",".join(f"{s:%H:%M}-{e:%H:%M}" for s, e in self.periods)


DEFAULT_OFFICE_HOURS = OfficeHours()
