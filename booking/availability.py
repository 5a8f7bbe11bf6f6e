"""Open appointment times: when a patient can book which service with whom.

A time is open when it starts on the clinic's grid, inside one of the practitioner's
working hours (the whole appointment fits), not on a clinic closure day, not during
the practitioner's time off, not closer than the buffer to another active appointment,
at least the minimum notice from now and at most the booking horizon ahead.

Working hours are local wall-clock times in the clinic's time zone; every time
returned is an aware UTC datetime. Each day's times are built from that day's wall
clock, so a daylight-saving change neither shifts a 9:00 appointment nor invents
one: a wall time that does not exist (spring forward) is skipped, one that happens
twice (fall back) is offered twice, once per UTC offset.

Everything a range needs is read in at most three queries (working hours with their
practitioners, time off and appointments together, closures), whatever the range.
"""

import bisect
import enum
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from functools import cached_property

from django.db.models import FloatField, Func, IntegerField, Value
from django.utils import timezone

from booking.models import Appointment, Clinic, ClinicClosure, TimeOff, WorkingHours
from clinic import generations, pagecache

_TIME_OFF, _APPOINTMENT = 0, 1


class Refusal(enum.StrEnum):
    """Why a time cannot be booked online."""

    PAST = "past"
    TOO_SOON = "too_soon"
    TOO_FAR = "too_far"
    OFF_GRID = "off_grid"
    CLOSED = "closed"
    OUTSIDE_HOURS = "outside_hours"
    TIME_OFF = "time_off"
    TAKEN = "taken"


class SlotUnavailable(Exception):
    """The time asked for is not open; `reason` says why (a Refusal)."""

    def __init__(self, reason, *, closure=""):
        super().__init__(reason)
        self.reason = Refusal(reason)
        self.closure = closure


@dataclass(frozen=True)
class Slot:
    """An open time: its start and end (UTC) and the practitioner who is free then."""

    start: datetime
    end: datetime
    practitioner: object = field(compare=False)

    @cached_property  # read several times for each of the many times a page offers
    def local_start(self):
        return timezone.localtime(self.start)

    @cached_property
    def value(self):
        """The form value: the local start in ISO 8601 with its UTC offset."""
        return self.local_start.isoformat()


def bookable_window(now=None, clinic=None):
    """The earliest and latest start a patient may book online, as of now."""
    now = now or timezone.now()
    clinic = clinic or Clinic.load()
    return now + clinic.minimum_notice, now + clinic.booking_horizon


def bookable_days(now=None, clinic=None):
    """The first and last local dates that can have open times."""
    earliest, latest = bookable_window(now, clinic)
    return timezone.localdate(earliest), timezone.localdate(latest)


def open_slots(service, first_day, last_day, *, practitioner=None, now=None):
    """Open times for `service` on the local dates first_day..last_day, by start.

    With a practitioner, that practitioner's times; without, every time at which
    some practitioner is free, each with the one who would take it.
    """
    times = open_times(service, first_day, last_day, practitioner=practitioner, now=now)
    return [slot for day in times.days for slot in times.on(day)]


def open_times(service, first_day, last_day, *, practitioner=None, now=None):
    """The OpenTimes of those days as of `now`: which days have any, and each day's.

    The free times of the days are cached under the "availability" generation, which
    every change to what they depend on replaces (clinic/generations.py); the bookable
    window (minimum notice, horizon) is applied here, as of `now`, on every call.
    """
    now = now or timezone.now()
    clinic = Clinic.load()
    earliest, latest = bookable_window(now, clinic)
    people, by_day = _free_times_of_days(service, first_day, last_day, practitioner, clinic)
    return OpenTimes(people, by_day, service.duration, earliest, latest)


class OpenTimes:
    """Open times grouped by local date, built into Slots only for the days asked for."""

    def __init__(self, people, by_day, duration, earliest, latest):
        self._people = people
        self._duration = duration
        low, high = int(earliest.timestamp()), int(latest.timestamp())
        # Only the first and last days can straddle the window: cut those.
        self._by_day = {}
        for day, (starts, picks) in by_day.items():
            if starts and (starts[0] < low or starts[-1] > high):
                begin = bisect.bisect_left(starts, low)
                end = bisect.bisect_right(starts, high)
                starts, picks = starts[begin:end], picks[begin:end]
            if starts:
                self._by_day[day] = (starts, picks)

    @property
    def days(self):
        """The local dates with at least one open time, in order."""
        return list(self._by_day)

    def on(self, day):
        """The open Slots of one local date, by start."""
        starts, picks = self._by_day.get(day, ((), ()))
        duration, people = self._duration, self._people
        slots = []
        for seconds, index in zip(starts, picks, strict=True):
            start = datetime.fromtimestamp(seconds, UTC)
            slots.append(Slot(start, start + duration, people[index]))
        return slots


# Free times are kept at most this long: a bound for writes that bypass the model signals
# (bulk_create, QuerySet.update, raw SQL). Changes through the ORM are seen at once.
CACHE_TIMEOUT = 300


def _free_times_of_days(service, first_day, last_day, practitioner, clinic):
    """(practitioners, {local date: (start timestamps, practitioner indexes)}), cached.

    Every free grid time of those days, whatever the time now: compact, so that reading
    it back from the cache costs little.
    """
    key = ":".join(
        [
            "availability",
            generations.current(generations.AVAILABILITY),
            str(service.pk),
            str(service.duration_minutes),
            str(practitioner.pk if practitioner else ""),
            first_day.isoformat(),
            last_day.isoformat(),
        ]
    )
    cached = pagecache.cache.get(key)
    if cached is not None:
        return cached
    schedule = _Schedule(service, first_day, last_day, practitioner=practitioner, clinic=clinic)
    by_day = {day: (starts, picks) for day, starts, picks in schedule.free_times_by_day()}
    value = (schedule.practitioners, by_day)
    pagecache.cache.set(key, value, CACHE_TIMEOUT)
    return value


def check_slot(service, start, *, practitioner=None, now=None):
    """The open Slot starting at `start`, or SlotUnavailable saying why not.

    Without a practitioner, the Slot names the one who is free (the least busy that
    day). This is the rule the request form and the booking itself apply.
    """
    now = now or timezone.now()
    # In UTC: an aware time in the repeated hour never equals one in another zone.
    start = start.astimezone(UTC)
    clinic = Clinic.load()
    earliest, latest = bookable_window(now, clinic)
    if start < now:
        raise SlotUnavailable(Refusal.PAST)
    if start < earliest:
        raise SlotUnavailable(Refusal.TOO_SOON)
    if start > latest:
        raise SlotUnavailable(Refusal.TOO_FAR)
    if not on_grid(start, clinic):
        raise SlotUnavailable(Refusal.OFF_GRID)
    day = timezone.localdate(start)
    schedule = _Schedule(service, day, day, practitioner=practitioner, clinic=clinic)
    closure = schedule.closure_on(day)
    if closure:
        raise SlotUnavailable(Refusal.CLOSED, closure=closure)
    working = [p for p in schedule.practitioners if start in schedule.starts(p, day)]
    if not working:
        raise SlotUnavailable(Refusal.OUTSIDE_HOURS)
    present = [p for p in working if not schedule.is_away(p, start)]
    if not present:
        raise SlotUnavailable(Refusal.TIME_OFF)
    free = [p for p in present if schedule.is_free(p, start)]
    if not free:
        raise SlotUnavailable(Refusal.TAKEN)
    return Slot(start, start + service.duration, schedule.pick(free, day))


def nearest_open_slots(service, start, *, practitioner=None, count=3, now=None):
    """Up to `count` open times closest to `start` (before or after), by start."""
    now = now or timezone.now()
    start = start.astimezone(UTC)
    first_day, last_day = bookable_days(now)
    slots = open_slots(service, first_day, last_day, practitioner=practitioner, now=now)
    nearest = sorted(slots, key=lambda slot: (abs(slot.start - start), slot.start))[:count]
    return sorted(nearest, key=lambda slot: slot.start)


def slots_by_day(slots):
    """Open times grouped by local date, in order."""
    days = defaultdict(list)
    for slot in slots:
        days[slot.local_start.date()].append(slot)
    return dict(days)


def on_grid(start, clinic=None):
    """Whether a time falls on the clinic's grid of local wall-clock start times."""
    clinic = clinic or Clinic.load()
    local = timezone.localtime(start)
    minutes = local.hour * 60 + local.minute
    return not (local.second or local.microsecond or minutes % clinic.slot_grid_minutes)


def wall_clock_instants(day, at, tz=None):
    """The UTC instants at which local clocks show `at` on `day`.

    One on most days; none in the hour skipped when clocks go forward; two in the
    hour repeated when clocks go back.
    """
    tz = tz or timezone.get_default_timezone()
    wall = datetime.combine(day, at)
    instants = []
    for fold in (0, 1):
        instant = wall.replace(tzinfo=tz, fold=fold).astimezone(UTC)
        exists = instant.astimezone(tz).replace(tzinfo=None) == wall
        if exists and instant not in instants:
            instants.append(instant)
    return instants


class _Seconds(Func):
    """A date and time as POSIX seconds, worked out by the database.

    Two months of appointments are thousands of rows: turning each of their times into
    an aware datetime (on SQLite, parsing it from text first), then into seconds, was a
    quarter of the time it took to list the free times.
    """

    output_field = FloatField()

    def as_sqlite(self, compiler, connection, **extra):
        # SQLite keeps UTC text; strftime('%s') reads it as UTC, to whole seconds. The
        # template's %% is halved twice: by the template, then by the query's parameters.
        return self.as_sql(
            compiler, connection, template="CAST(strftime('%%%%s', %(expressions)s) AS REAL)"
        )

    def as_postgresql(self, compiler, connection, **extra):
        # EXTRACT gives numeric, which psycopg would load as Decimal.
        return self.as_sql(
            compiler, connection, template="EXTRACT(EPOCH FROM %(expressions)s)::float8"
        )


class _Intervals:
    """Disjoint, sorted busy intervals of one practitioner, for quick overlap tests.

    In POSIX seconds: listing two months of free times tests tens of thousands of
    starts, and numbers compare several times faster than aware datetimes.
    """

    def __init__(self, intervals):
        merged = []
        for start, end in sorted(intervals):
            if merged and start <= merged[-1][1]:
                merged[-1][1] = max(merged[-1][1], end)
            else:
                merged.append([start, end])
        self.starts = [start for start, _ in merged]
        self.ends = [end for _, end in merged]

    def overlaps(self, start, end):
        index = bisect.bisect_right(self.ends, start)
        return index < len(self.starts) and self.starts[index] < end


def _fixed_schedule(practitioner=None):
    """Who works when, and the clinic's closures: (practitioners, hours, closures).

    They change when staff edit them, not when patients book, so they are read once per
    change (generations.SCHEDULE) rather than on every booking. What a booking must find
    exactly as it is now, the appointments and the time off, is always read afresh.
    """
    key = "availability:fixed:{}:{}".format(
        generations.current(generations.SCHEDULE), practitioner.pk if practitioner else "all"
    )
    found = pagecache.cache.get(key)
    if found is not None:
        return found
    rows = WorkingHours.objects.filter(practitioner__is_active=True).select_related("practitioner")
    if practitioner is not None:
        rows = rows.filter(practitioner=practitioner)
    rows = rows.order_by(
        "practitioner__position", "practitioner__name", "practitioner_id", "start_time"
    )
    practitioners, hours = [], {}
    for row in rows:
        if row.practitioner not in practitioners:
            practitioners.append(row.practitioner)
        by_weekday = hours.setdefault(row.practitioner.pk, {})
        by_weekday.setdefault(row.weekday, []).append((row.start_time, row.end_time))
    for by_weekday in hours.values():
        for weekday, ranges in by_weekday.items():
            by_weekday[weekday] = _merge_times(ranges)
    closures = list(
        ClinicClosure.objects.order_by("start_date").values_list("start_date", "end_date", "reason")
    )
    found = practitioners, hours, closures
    pagecache.cache.set(key, found, CACHE_TIMEOUT)
    return found


class _Schedule:
    """Working hours, time off, appointments and closures for some days, read once."""

    def __init__(self, service, first_day, last_day, *, practitioner=None, clinic=None):
        self.service = service
        self.duration = service.duration
        self.clinic = clinic or Clinic.load()
        self.tz = timezone.get_default_timezone()
        self.first_day, self.last_day = first_day, last_day
        self.grid = self.clinic.slot_grid_minutes
        self._starts = {}
        self._offsets_of = {}
        self._seconds_of = {}

        self.practitioners, self._hours, closures = _fixed_schedule(practitioner)
        self._closures = [
            (start_date, end_date, reason)
            for start_date, end_date, reason in closures
            if start_date <= last_day and end_date >= first_day
        ]

        buffer = self.clinic.buffer
        window_start = self._midnight(first_day) - buffer
        window_end = self._midnight(last_day + timedelta(days=1)) + service.duration + buffer
        ids = [p.pk for p in self.practitioners]
        off, booked = defaultdict(list), defaultdict(list)
        self._booked_per_day = Counter()
        # The local days an appointment in the window can start on, and their midnights:
        # an appointment's day is found by bisection, not a time-zone conversion each.
        days = [first_day + timedelta(days=n) for n in range(-1, (last_day - first_day).days + 3)]
        midnights = [self._midnight(day).timestamp() for day in days]
        margin = buffer.total_seconds()
        if ids:
            time_off = (
                TimeOff.objects.filter(practitioner_id__in=ids)
                .filter(start__lt=window_end, end__gt=window_start)
                .annotate(
                    begin=_Seconds("start"),
                    finish=_Seconds("end"),
                    kind=Value(_TIME_OFF, output_field=IntegerField()),
                )
                .values_list("practitioner_id", "begin", "finish", "kind")
                .order_by()
            )
            appointments = (
                Appointment.objects.active()
                .filter(practitioner_id__in=ids)
                .overlapping(window_start, window_end)
                .annotate(
                    begin=_Seconds("start"),
                    finish=_Seconds("end"),
                    kind=Value(_APPOINTMENT, output_field=IntegerField()),
                )
                .values_list("practitioner_id", "begin", "finish", "kind")
                .order_by()
            )
            rows = time_off.union(appointments, all=True).order_by()
            for practitioner_id, begin, finish, kind in rows:
                if kind == _TIME_OFF:
                    off[practitioner_id].append((begin, finish))
                else:
                    # The buffer keeps time free on both sides of an appointment.
                    booked[practitioner_id].append((begin - margin, finish + margin))
                    index = bisect.bisect_right(midnights, begin) - 1
                    if index >= 0:
                        self._booked_per_day[practitioner_id, days[index]] += 1
        self._off = {pk: _Intervals(off[pk]) for pk in ids}
        self._booked = {pk: _Intervals(booked[pk]) for pk in ids}
        # Away or booked: for listing free times, one test instead of two.
        self._blocked = {pk: _Intervals(off[pk] + booked[pk]) for pk in ids}

    def _midnight(self, day):
        return datetime.combine(day, time(0), tzinfo=self.tz).astimezone(UTC)

    def closure_on(self, day):
        """The reason the clinic is closed on `day`, or an empty string."""
        for start_date, end_date, reason in self._closures:
            if start_date <= day <= end_date:
                return reason or "closed"
        return ""

    def starts(self, practitioner, day):
        """Grid start times on `day` at which the service fits in the working hours."""
        key = (practitioner.pk, day)
        if key not in self._starts:
            self._starts[key] = self._compute_starts(practitioner, day)
        return self._starts[key]

    def _compute_starts(self, practitioner, day):
        ranges = self._hours.get(practitioner.pk, {}).get(day.weekday(), ())
        if not ranges:
            return []
        midnight = self._midnight(day)
        if self._midnight(day + timedelta(days=1)) - midnight == timedelta(days=1):
            # No clock change that day: wall-clock times are real time after midnight.
            return [midnight + offset for offset in self._offsets(practitioner, day.weekday())]
        return self._starts_across_clock_change(ranges, day)

    def _offsets(self, practitioner, weekday):
        """Grid starts on a weekday as times after midnight (the same every such week)."""
        key = (practitioner.pk, weekday)
        if key not in self._offsets_of:
            offsets = []
            for begin, finish in self._hours.get(practitioner.pk, {}).get(weekday, ()):
                opens = timedelta(hours=begin.hour, minutes=begin.minute, seconds=begin.second)
                closes = timedelta(hours=finish.hour, minutes=finish.minute, seconds=finish.second)
                first = -(-(begin.hour * 60 + begin.minute) // self.grid) * self.grid
                for minutes in range(first, finish.hour * 60 + finish.minute, self.grid):
                    offset = timedelta(minutes=minutes)
                    if offset >= opens and offset + self.duration <= closes:
                        offsets.append(offset)
            self._offsets_of[key] = offsets
        return self._offsets_of[key]

    def _starts_across_clock_change(self, ranges, day):
        duration = self.duration
        starts = []
        for begin, finish in ranges:
            # Earliest reading of the opening time, latest of the closing time: on the
            # night clocks go back, a range around 1:00-2:00 covers both hours.
            opens = datetime.combine(day, begin, tzinfo=self.tz).astimezone(UTC)
            closes = datetime.combine(day, finish, tzinfo=self.tz).replace(fold=1).astimezone(UTC)
            first = -(-(begin.hour * 60 + begin.minute) // self.grid) * self.grid
            last = finish.hour * 60 + finish.minute
            for minutes in range(first, last, self.grid):
                at = time(minutes // 60, minutes % 60)
                for start in wall_clock_instants(day, at, self.tz):
                    if start >= opens and start + duration <= closes and start not in starts:
                        starts.append(start)
        return sorted(starts)

    def _start_seconds(self, practitioner, day, midnight, plain):
        """starts() as POSIX seconds; `plain` when the day has no clock change."""
        if not plain:
            return [int(start.timestamp()) for start in self.starts(practitioner, day)]
        key = (practitioner.pk, day.weekday())
        if key not in self._seconds_of:
            offsets = self._offsets(practitioner, day.weekday())
            self._seconds_of[key] = [int(offset.total_seconds()) for offset in offsets]
        return [midnight + seconds for seconds in self._seconds_of[key]]

    def free_times_by_day(self):
        """(local date, free starts, who takes each) for each day, whatever the time now.

        Starts are POSIX seconds, in order, and each is taken by the free practitioner
        with the fewest appointments that day (an index into self.practitioners): the
        compact form the cache keeps.
        """
        length = self.duration.total_seconds()
        people = list(enumerate(self.practitioners))
        blocked = [self._blocked[person.pk] for person in self.practitioners]
        day = self.first_day
        while day <= self.last_day:
            starts, picks = [], []
            if not self.closure_on(day):
                midnight = self._midnight(day)
                plain = self._midnight(day + timedelta(days=1)) - midnight == timedelta(days=1)
                midnight = int(midnight.timestamp())
                by_start = defaultdict(list)
                for index, person in people:
                    overlaps = blocked[index].overlaps
                    for start in self._start_seconds(person, day, midnight, plain):
                        if not overlaps(start, start + length):
                            by_start[start].append(index)
                booked = [self._booked_per_day[person.pk, day] for person in self.practitioners]
                for start in sorted(by_start):
                    starts.append(start)
                    # pick()'s rule, by index: the fewest appointments, the first on a tie.
                    picks.append(min(by_start[start], key=booked.__getitem__))
            yield day, starts, picks
            day += timedelta(days=1)

    def _overlaps(self, intervals, start):
        begin = start.timestamp()
        return intervals.overlaps(begin, begin + self.duration.total_seconds())

    def is_away(self, practitioner, start):
        return self._overlaps(self._off[practitioner.pk], start)

    def is_taken(self, practitioner, start):
        return self._overlaps(self._booked[practitioner.pk], start)

    def is_free(self, practitioner, start):
        return not (self.is_away(practitioner, start) or self.is_taken(practitioner, start))

    def pick(self, free, day):
        """Of the free practitioners, the one with the fewest appointments that day."""
        return min(free, key=lambda p: self._booked_per_day[p.pk, day])


def weekly_opening_hours():
    """When someone works, by weekday (0 is Monday): each day's ranges of every active
    practitioner, joined where they overlap or touch. [(weekday, start, end)], in order."""
    by_day = defaultdict(list)
    rows = WorkingHours.objects.filter(practitioner__is_active=True).values_list(
        "weekday", "start_time", "end_time"
    )
    for weekday, start, end in rows:
        by_day[weekday].append((start, end))
    return [
        (weekday, start, end)
        for weekday in sorted(by_day)
        for start, end in _merge_times(by_day[weekday])
    ]


def _merge_times(ranges):
    """Working-hour ranges of one day, overlapping or touching ones joined."""
    merged = []
    for start, end in sorted(ranges):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged
