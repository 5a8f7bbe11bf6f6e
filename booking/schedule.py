"""The staff schedule: one day or one week of appointments, a column per practitioner.

Appointments are placed by their wall-clock time in the clinic's time zone, so that a
daylight-saving change never moves one: a 10:00 appointment sits in the 10:00 row on the
day the clocks change too. Building a schedule runs a fixed number of queries, however
many appointments it shows.
"""

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

from django.db.models import Q
from django.utils import timezone

from booking.models import (
    LONGEST_APPOINTMENT,
    Appointment,
    ClinicClosure,
    Practitioner,
    TimeOff,
    WorkingHours,
)

ROW_MINUTES = 15
MINUTES_PER_DAY = 24 * 60
# Shown when nobody works that day and nothing is booked.
DEFAULT_HOURS = (8 * 60, 18 * 60)
# Declined and cancelled appointments no longer hold their time: they stay in the list.
SHOWN_STATUSES = [
    Appointment.Status.REQUESTED,
    Appointment.Status.CONFIRMED,
    Appointment.Status.COMPLETED,
    Appointment.Status.NO_SHOW,
]


def local_midnight(day):
    """The aware start of a local day (midnight exists on every day in every US zone)."""
    return datetime.combine(day, time.min, tzinfo=timezone.get_current_timezone())


def week_start(day):
    return day - timedelta(days=day.weekday())


def wall_minutes(moment, day):
    """Minutes from the local midnight of `day` to `moment` as a wall clock shows it."""
    local = timezone.localtime(moment)
    if local.date() < day:
        return 0
    if local.date() > day:
        return MINUTES_PER_DAY
    return local.hour * 60 + local.minute


def wall_time(day, minutes):
    """The aware moment a wall clock shows `minutes` after midnight of `day`.

    None for the times skipped when the clocks go forward (2:00-2:59 in spring, in the US).
    """
    zone = timezone.get_current_timezone()
    wall = datetime.combine(day, time(minutes // 60, minutes % 60), tzinfo=zone)
    round_trip = wall.astimezone(UTC).astimezone(zone)
    return wall if round_trip.replace(tzinfo=None) == wall.replace(tzinfo=None) else None


@dataclass
class Placement:
    """One appointment in a day column: its first row, how many rows, and its lane."""

    appointment: Appointment
    first_row: int
    row_count: int
    lane: int = 0

    @property
    def local_start(self):
        return timezone.localtime(self.appointment.start)

    @property
    def local_end(self):
        return timezone.localtime(self.appointment.end)


@dataclass
class Cell:
    kind: str  # "appointment", "free" (within working hours) or "off"
    practitioner: Practitioner
    lane: int
    placement: Placement | None = None
    row_span: int = 1


@dataclass
class Row:
    minutes: int
    start: datetime | None  # None for a wall-clock time skipped by a daylight-saving change
    cells: list = field(default_factory=list)

    @property
    def exists(self):
        return self.start is not None

    @property
    def time(self):
        return time(self.minutes // 60, self.minutes % 60)

    @property
    def is_hour(self):
        return self.minutes % 60 == 0


@dataclass
class Column:
    practitioner: Practitioner
    placements: list = field(default_factory=list)
    lanes: int = 1
    working: list = field(default_factory=list)  # (from, to) wall-clock minutes
    away: list = field(default_factory=list)  # (from, to) wall-clock minutes of time off

    def is_working(self, minutes):
        end = minutes + ROW_MINUTES
        within = any(start <= minutes and end <= stop for start, stop in self.working)
        return within and not any(start < end and minutes < stop for start, stop in self.away)


@dataclass
class DaySchedule:
    day: date
    columns: list
    rows: list
    closure: ClinicClosure | None = None


@dataclass
class WeekCell:
    practitioner: Practitioner
    appointments: list
    working: list  # (from, to) local times
    has_time_off: bool


@dataclass
class WeekDay:
    day: date
    closure: ClinicClosure | None
    cells: list  # a WeekCell per practitioner


@dataclass
class WeekSchedule:
    first_day: date
    practitioners: list
    days: list


def _minute_ranges_of_time_off(time_off, day):
    day_start, day_end = local_midnight(day), local_midnight(day + timedelta(days=1))
    return [
        (wall_minutes(max(away.start, day_start), day), wall_minutes(min(away.end, day_end), day))
        for away in time_off
        if away.start < day_end and away.end > day_start
    ]


def _closure_on(closures, day):
    return next((c for c in closures if c.start_date <= day <= c.end_date), None)


def _place(appointment, day):
    start = wall_minutes(appointment.start, day)
    end = wall_minutes(appointment.end, day)
    if end <= start:
        # Clocks went back during the appointment: the wall clock shows less than it lasted.
        real = int((appointment.end - appointment.start).total_seconds() // 60)
        end = min(start + real, MINUTES_PER_DAY)
    first_row = start // ROW_MINUTES
    last_row = -(-end // ROW_MINUTES)  # rounded up
    return Placement(appointment, first_row, max(1, last_row - first_row))


def _assign_lanes(placements):
    """Side by side only where appointments of one practitioner overlap (lanes)."""
    lane_ends = []
    for placement in sorted(placements, key=lambda p: (p.first_row, -p.row_count)):
        for lane, end in enumerate(lane_ends):
            if end <= placement.first_row:
                placement.lane = lane
                lane_ends[lane] = placement.first_row + placement.row_count
                break
        else:
            placement.lane = len(lane_ends)
            lane_ends.append(placement.first_row + placement.row_count)
    return max(1, len(lane_ends))


def build_day(day, practitioners, appointments, working_hours, time_off, closures):
    """Lay out one day: rows of ROW_MINUTES, a column (with lanes) per practitioner."""
    closure = _closure_on(closures, day)
    columns = {p.pk: Column(p) for p in practitioners}
    for hours in working_hours:
        if hours.weekday == day.weekday() and hours.practitioner_id in columns and not closure:
            start = hours.start_time.hour * 60 + hours.start_time.minute
            end = hours.end_time.hour * 60 + hours.end_time.minute
            columns[hours.practitioner_id].working.append((start, end))
    for column in columns.values():
        own = [away for away in time_off if away.practitioner_id == column.practitioner.pk]
        column.away = _minute_ranges_of_time_off(own, day)
    for appointment in appointments:
        if appointment.practitioner_id in columns:
            columns[appointment.practitioner_id].placements.append(_place(appointment, day))
    for column in columns.values():
        column.lanes = _assign_lanes(column.placements)

    edges = [edge for c in columns.values() for r in c.working for edge in r]
    edges += [
        edge
        for c in columns.values()
        for p in c.placements
        for edge in (p.first_row * ROW_MINUTES, (p.first_row + p.row_count) * ROW_MINUTES)
    ]
    first, last = (min(edges), max(edges)) if edges else DEFAULT_HOURS
    first_row = first // 60 * 60 // ROW_MINUTES
    last_row = min(-(-last // 60) * 60, MINUTES_PER_DAY) // ROW_MINUTES

    rows = []
    covered = set()  # (column index, lane, row) taken by an appointment above
    starts = {
        (index, p.lane, p.first_row): p
        for index, column in enumerate(columns.values())
        for p in column.placements
    }
    for row_number in range(first_row, last_row):
        minutes = row_number * ROW_MINUTES
        row = Row(minutes, wall_time(day, minutes))
        for index, column in enumerate(columns.values()):
            practitioner = column.practitioner
            for lane in range(column.lanes):
                if (index, lane, row_number) in covered:
                    continue
                placement = starts.get((index, lane, row_number))
                if placement:
                    # Clipped at the end of the rows shown.
                    span = min(placement.row_count, last_row - row_number)
                    covered.update((index, lane, row_number + i) for i in range(1, span))
                    row.cells.append(Cell("appointment", practitioner, lane, placement, span))
                elif row.exists and column.is_working(minutes):
                    row.cells.append(Cell("free", practitioner, lane))
                else:
                    row.cells.append(Cell("off", practitioner, lane))
        rows.append(row)
    return DaySchedule(day, list(columns.values()), rows, closure)


def build_week(first_day, practitioners, appointments, working_hours, time_off, closures):
    """Lay out seven days: a row per day, a cell per practitioner listing their appointments."""
    booked = defaultdict(list)
    for appointment in appointments:
        day = timezone.localtime(appointment.start).date()
        booked[appointment.practitioner_id, day].append(appointment)
    days = []
    for offset in range(7):
        day = first_day + timedelta(days=offset)
        closure = _closure_on(closures, day)
        cells = []
        for practitioner in practitioners:
            working = [
                (h.start_time, h.end_time)
                for h in working_hours
                if h.practitioner_id == practitioner.pk and h.weekday == day.weekday()
            ]
            away = _minute_ranges_of_time_off(
                [t for t in time_off if t.practitioner_id == practitioner.pk], day
            )
            cells.append(
                WeekCell(
                    practitioner,
                    booked[practitioner.pk, day],
                    [] if closure else working,
                    has_time_off=bool(away),
                )
            )
        days.append(WeekDay(day, closure, cells))
    return WeekSchedule(first_day, list(practitioners), days)


def load_schedule(first_day, days, appointments, practitioners):
    """Query what `days` days from `first_day` need, and lay them out.

    `appointments` and `practitioners` are the querysets the viewer may see. Practitioners
    who take bookings are shown, and anyone else with an appointment in the period.
    """
    period_start = local_midnight(first_day)
    period_end = local_midnight(first_day + timedelta(days=days))
    booked = list(
        appointments.filter(
            status__in=SHOWN_STATUSES,
            start__gte=period_start - LONGEST_APPOINTMENT,
            start__lt=period_end,
            end__gt=period_start,
        )
        .select_related("service", "practitioner")
        .order_by("start", "pk")
    )
    shown = {p.pk: p for p in practitioners.filter(is_active=True)}
    for appointment in booked:
        shown.setdefault(appointment.practitioner_id, appointment.practitioner)
    practitioners = sorted(shown.values(), key=lambda p: (p.position, p.name))
    ids = [p.pk for p in practitioners]
    working_hours = list(WorkingHours.objects.filter(practitioner_id__in=ids))
    time_off = list(
        TimeOff.objects.filter(practitioner_id__in=ids, start__lt=period_end, end__gt=period_start)
    )
    closures = list(
        ClinicClosure.objects.filter(
            Q(start_date__lt=first_day + timedelta(days=days)) & Q(end_date__gte=first_day)
        )
    )
    if days == 1:
        return build_day(first_day, practitioners, booked, working_hours, time_off, closures)
    return build_week(first_day, practitioners, booked, working_hours, time_off, closures)
