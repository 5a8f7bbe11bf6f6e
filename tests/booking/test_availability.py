"""Open times, rule by rule: hours, closures, time off, notice, horizon, grid, buffer, DST."""

from datetime import date, datetime, time, timedelta
from itertools import pairwise

import pytest

from booking.availability import (
    Refusal,
    SlotUnavailable,
    check_slot,
    nearest_open_slots,
    open_slots,
    slots_by_day,
    wall_clock_instants,
)
from booking.models import Clinic, ClinicClosure, Practitioner, TimeOff, WorkingHours
from clinic.pagecache import cache as page_cache
from tests.booking.conftest import NY, local

# A Wednesday morning in January, far from any daylight-saving change.
NOW = datetime(2027, 1, 6, 8, 0, tzinfo=NY)
MONDAY = date(2027, 1, 11)


def wall_times(slots):
    return [slot.local_start.strftime("%H:%M") for slot in slots]


def refusal(service, start, **kwargs):
    with pytest.raises(SlotUnavailable) as caught:
        check_slot(service, start, now=kwargs.pop("now", NOW), **kwargs)
    return caught.value.reason


def change_clinic(clinic, **rules):
    for name, value in rules.items():
        setattr(clinic, name, value)
    clinic.save()


def test_open_times_fill_the_working_hours_on_the_grid(service, practitioner):
    slots = open_slots(service, MONDAY, MONDAY, practitioner=practitioner, now=NOW)
    times = wall_times(slots)
    # 9:00 to 17:00 with a 75-minute service: the last start is 15:45.
    assert times[0] == "09:00"
    assert times[-1] == "15:45"
    assert len(times) == 28
    assert all(slot.end - slot.start == timedelta(minutes=75) for slot in slots)
    assert slots[0].value == "2027-01-11T09:00:00-05:00"


def test_a_day_can_have_several_working_ranges(service, clinic):
    split = Practitioner.objects.create(name="Split Day", slug="split-day")
    WorkingHours.objects.create(
        practitioner=split, weekday=0, start_time=time(9), end_time=time(12)
    )
    WorkingHours.objects.create(
        practitioner=split, weekday=0, start_time=time(14), end_time=time(18)
    )
    times = wall_times(open_slots(service, MONDAY, MONDAY, practitioner=split, now=NOW))
    assert times[:8] == ["09:00", "09:15", "09:30", "09:45", "10:00", "10:15", "10:30", "10:45"]
    assert "11:00" not in times  # would end at 12:15, after the morning range
    assert "13:45" not in times
    assert times[8] == "14:00"
    assert times[-1] == "16:45"


def test_touching_working_ranges_join_into_one(service, clinic):
    person = Practitioner.objects.create(name="Long Day", slug="long-day")
    WorkingHours.objects.create(
        practitioner=person, weekday=0, start_time=time(9), end_time=time(12)
    )
    WorkingHours.objects.create(
        practitioner=person, weekday=0, start_time=time(12), end_time=time(17)
    )
    times = wall_times(open_slots(service, MONDAY, MONDAY, practitioner=person, now=NOW))
    assert "11:30" in times  # 11:30-12:45 crosses from one range into the next


def test_no_open_times_on_a_day_without_working_hours(service, practitioner):
    sunday = MONDAY - timedelta(days=1)
    assert open_slots(service, sunday, sunday, practitioner=practitioner, now=NOW) == []
    assert refusal(service, local(sunday, 10)) == Refusal.OUTSIDE_HOURS


def test_a_time_that_would_run_past_closing_is_refused(service, short_service, practitioner):
    assert refusal(service, local(MONDAY, 16)) == Refusal.OUTSIDE_HOURS
    assert refusal(service, local(MONDAY, 8)) == Refusal.OUTSIDE_HOURS
    assert check_slot(short_service, local(MONDAY, 16, 45), now=NOW).practitioner == practitioner


def test_clinic_closure_closes_every_practitioner(service, practitioner, other_practitioner):
    ClinicClosure.objects.create(start_date=MONDAY, end_date=MONDAY, reason="Staff training")
    assert open_slots(service, MONDAY, MONDAY, now=NOW) == []
    with pytest.raises(SlotUnavailable) as caught:
        check_slot(service, local(MONDAY, 10), now=NOW)
    assert caught.value.reason == Refusal.CLOSED
    assert caught.value.closure == "Staff training"
    tuesday = MONDAY + timedelta(days=1)
    assert open_slots(service, tuesday, tuesday, now=NOW)


def test_a_closure_over_several_days_closes_them_all(service, practitioner):
    ClinicClosure.objects.create(
        start_date=MONDAY, end_date=MONDAY + timedelta(days=2), reason="Holidays"
    )
    days = slots_by_day(open_slots(service, MONDAY, MONDAY + timedelta(days=4), now=NOW))
    assert sorted(days) == [MONDAY + timedelta(days=3), MONDAY + timedelta(days=4)]


def test_time_off_removes_the_times_it_touches(service, practitioner):
    TimeOff.objects.create(
        practitioner=practitioner, start=local(MONDAY, 10), end=local(MONDAY, 12)
    )
    times = wall_times(open_slots(service, MONDAY, MONDAY, practitioner=practitioner, now=NOW))
    assert "09:00" not in times  # 9:00-10:15 runs into the time off
    assert "11:45" not in times
    assert times[0] == "12:00"
    assert refusal(service, local(MONDAY, 10), practitioner=practitioner) == Refusal.TIME_OFF


def test_minimum_notice_hides_the_next_hours(service, practitioner, clinic):
    sunday_morning = local(MONDAY - timedelta(days=1), 10)
    times = wall_times(open_slots(service, MONDAY, MONDAY, now=sunday_morning))
    assert times[0] == "10:00"  # exactly 24 hours ahead is allowed
    assert refusal(service, local(MONDAY, 9, 45), now=sunday_morning) == Refusal.TOO_SOON
    change_clinic(clinic, minimum_notice_hours=48)
    assert open_slots(service, MONDAY, MONDAY, now=sunday_morning) == []


def test_booking_horizon_hides_times_too_far_ahead(service, practitioner, clinic):
    change_clinic(clinic, booking_horizon_days=7)
    # Now is Wednesday 8:00: the horizon ends the next Wednesday at 8:00.
    days = slots_by_day(open_slots(service, NOW.date(), NOW.date() + timedelta(days=10), now=NOW))
    assert max(days) == date(2027, 1, 12)
    assert refusal(service, local(date(2027, 1, 13), 9)) == Refusal.TOO_FAR


def test_a_time_in_the_past_is_refused(service, practitioner):
    assert refusal(service, local(MONDAY, 10), now=local(MONDAY, 11)) == Refusal.PAST


def test_times_follow_the_clinic_grid(service, practitioner, clinic):
    assert refusal(service, local(MONDAY, 10, 5)) == Refusal.OFF_GRID
    assert refusal(service, local(MONDAY, 10).replace(second=30)) == Refusal.OFF_GRID
    change_clinic(clinic, slot_grid_minutes=30)
    times = wall_times(open_slots(service, MONDAY, MONDAY, practitioner=practitioner, now=NOW))
    assert times[:3] == ["09:00", "09:30", "10:00"]
    assert refusal(service, local(MONDAY, 10, 15)) == Refusal.OFF_GRID


def test_an_active_appointment_takes_its_time(service, practitioner, make_appointment):
    make_appointment(local(MONDAY, 10))  # 10:00-11:15
    times = wall_times(open_slots(service, MONDAY, MONDAY, practitioner=practitioner, now=NOW))
    assert "09:00" not in times  # 9:00-10:15 would overlap
    assert "11:00" not in times
    assert "11:15" in times  # back to back is fine without a buffer
    assert refusal(service, local(MONDAY, 10, 30), practitioner=practitioner) == Refusal.TAKEN


@pytest.mark.parametrize("end_it", ["cancel", "decline"])
def test_a_cancelled_or_declined_request_frees_its_time_at_once(
    service, practitioner, make_appointment, end_it
):
    appointment = make_appointment(local(MONDAY, 10))
    getattr(appointment, end_it)()
    assert check_slot(service, local(MONDAY, 10), practitioner=practitioner, now=NOW)


def test_buffer_keeps_time_free_around_appointments(
    service, practitioner, make_appointment, clinic
):
    change_clinic(clinic, buffer_minutes=15)
    make_appointment(local(MONDAY, 12))  # 12:00-13:15
    times = wall_times(open_slots(service, MONDAY, MONDAY, practitioner=practitioner, now=NOW))
    assert "10:30" in times  # ends 11:45, a quarter hour before
    assert "10:45" not in times
    assert "13:15" not in times
    assert "13:30" in times
    assert refusal(service, local(MONDAY, 13, 15), practitioner=practitioner) == Refusal.TAKEN


def test_a_practitioner_who_takes_no_bookings_has_no_times(service, practitioner):
    practitioner.is_active = False
    practitioner.save()
    assert open_slots(service, MONDAY, MONDAY, now=NOW) == []


def test_any_practitioner_picks_one_who_is_free(
    service, practitioner, other_practitioner, make_appointment
):
    make_appointment(local(MONDAY, 10))
    slot = check_slot(service, local(MONDAY, 10), now=NOW)
    assert slot.practitioner == other_practitioner
    by_start = {s.start: s for s in open_slots(service, MONDAY, MONDAY, now=NOW)}
    assert by_start[local(MONDAY, 10)].practitioner == other_practitioner
    make_appointment(local(MONDAY, 10), practitioner=other_practitioner)
    assert refusal(service, local(MONDAY, 10)) == Refusal.TAKEN
    assert local(MONDAY, 10) not in {s.start for s in open_slots(service, MONDAY, MONDAY, now=NOW)}


def test_any_practitioner_prefers_the_one_with_the_lighter_day(
    service, practitioner, other_practitioner, make_appointment
):
    make_appointment(local(MONDAY, 14))
    assert check_slot(service, local(MONDAY, 9), now=NOW).practitioner == other_practitioner


def test_nearest_open_times_surround_a_refused_one(service, practitioner, make_appointment):
    make_appointment(local(MONDAY, 10))
    nearest = nearest_open_slots(service, local(MONDAY, 10), practitioner=practitioner, now=NOW)
    assert wall_times(nearest) == ["11:15", "11:30", "11:45"]
    assert all(slot.local_start.date() == MONDAY for slot in nearest)


def test_nearest_open_times_to_a_past_time_are_the_first_bookable(service, practitioner):
    nearest = nearest_open_slots(service, local(MONDAY, 10) - timedelta(days=30), now=NOW)
    # Now is Wednesday 8:00; 24 hours' notice: Thursday 9:00 is the first.
    assert [s.local_start for s in nearest] == [
        local(date(2027, 1, 7), 9),
        local(date(2027, 1, 7), 9, 15),
        local(date(2027, 1, 7), 9, 30),
    ]


def test_checking_a_time_agrees_with_the_list_of_open_times(
    service, practitioner, other_practitioner, make_appointment, clinic
):
    change_clinic(clinic, buffer_minutes=10)
    make_appointment(local(MONDAY, 10))
    make_appointment(local(MONDAY, 13, 30), practitioner=other_practitioner)
    TimeOff.objects.create(
        practitioner=other_practitioner, start=local(MONDAY, 9), end=local(MONDAY, 10, 30)
    )
    listed = {slot.start for slot in open_slots(service, MONDAY, MONDAY, now=NOW)}
    for minutes in range(7 * 60, 18 * 60, 5):
        start = local(MONDAY, minutes // 60, minutes % 60)
        try:
            check_slot(service, start, now=NOW)
            is_open = True
        except SlotUnavailable:
            is_open = False
        assert is_open == (start in listed), start


@pytest.mark.parametrize("days", [1, 7, 365])
def test_open_times_take_three_queries_whatever_the_range(
    service,
    practitioner,
    other_practitioner,
    make_appointment,
    clinic,
    days,
    django_assert_num_queries,
):
    change_clinic(clinic, booking_horizon_days=365)
    for week in range(10):
        make_appointment(local(MONDAY + timedelta(weeks=week), 10))
        TimeOff.objects.create(
            practitioner=other_practitioner,
            start=local(MONDAY + timedelta(weeks=week), 9),
            end=local(MONDAY + timedelta(weeks=week), 12),
        )
    ClinicClosure.objects.create(start_date=MONDAY, end_date=MONDAY, reason="Closed")
    page_cache.clear()
    Clinic.load()  # cached, as on every page after the first
    with django_assert_num_queries(3):
        open_slots(service, NOW.date(), NOW.date() + timedelta(days=days - 1), now=NOW)


# Daylight saving in America/New_York, 2027: clocks go forward at 2:00 on Sunday, March 14,
# and back at 2:00 on Sunday, November 7.
SPRING_FORWARD = date(2027, 3, 14)
FALL_BACK = date(2027, 11, 7)


@pytest.fixture
def sunday_hours(practitioner):
    def add(start, end):
        WorkingHours.objects.create(
            practitioner=practitioner, weekday=6, start_time=start, end_time=end
        )

    return add


@pytest.mark.parametrize("change_day", [SPRING_FORWARD, FALL_BACK])
def test_daylight_saving_change_neither_shifts_nor_loses_daytime_slots(
    service, practitioner, sunday_hours, change_day
):
    sunday_hours(time(9), time(17))
    week_before = change_day - timedelta(days=7)
    now = datetime.combine(week_before - timedelta(days=3), time(8), tzinfo=NY)
    before = open_slots(service, week_before, week_before, practitioner=practitioner, now=now)
    after = open_slots(service, change_day, change_day, practitioner=practitioner, now=now)
    assert wall_times(after) == wall_times(before)
    assert wall_times(after)[0] == "09:00"
    assert all(slot.end - slot.start == timedelta(minutes=75) for slot in after)
    offsets = {slot.value[-6:] for slot in after}
    assert offsets == ({"-04:00"} if change_day == SPRING_FORWARD else {"-05:00"})
    # The same wall-clock time is an hour apart in UTC across the change.
    assert before[0].start - after[0].start + timedelta(days=7) == timedelta(
        hours=1 if change_day == SPRING_FORWARD else -1
    )


def test_spring_forward_skips_the_hour_that_does_not_exist(
    short_service, practitioner, sunday_hours
):
    sunday_hours(time(0), time(4))
    now = datetime(2027, 3, 1, tzinfo=NY)
    slots = open_slots(short_service, SPRING_FORWARD, SPRING_FORWARD, now=now)
    times = wall_times(slots)
    assert not [t for t in times if t.startswith("02:")]
    assert times[:8] == ["00:00", "00:15", "00:30", "00:45", "01:00", "01:15", "01:30", "01:45"]
    assert times[8:] == ["03:00", "03:15", "03:30", "03:45"]
    # Three real hours that night, every slot a real quarter of an hour, none overlapping.
    assert all(b.start - a.start == timedelta(minutes=15) for a, b in pairwise(slots))


def test_fall_back_offers_the_repeated_hour_twice(short_service, practitioner, sunday_hours):
    sunday_hours(time(0), time(4))
    now = datetime(2027, 10, 25, tzinfo=NY)
    slots = open_slots(short_service, FALL_BACK, FALL_BACK, now=now)
    values = [slot.value for slot in slots]
    assert "2027-11-07T01:30:00-04:00" in values
    assert "2027-11-07T01:30:00-05:00" in values
    assert len(slots) == 20  # five real hours that night
    assert all(b.start - a.start == timedelta(minutes=15) for a, b in pairwise(slots))
    second = datetime.fromisoformat("2027-11-07T01:30:00-05:00")
    assert check_slot(short_service, second, now=now).start == second


def test_an_appointment_across_the_change_lasts_its_real_duration(
    service, practitioner, sunday_hours
):
    sunday_hours(time(0), time(5))
    now = datetime(2027, 3, 1, tzinfo=NY)
    slot = check_slot(service, datetime(2027, 3, 14, 1, 30, tzinfo=NY), now=now)
    assert slot.end - slot.start == timedelta(minutes=75)
    assert slot.end.astimezone(NY).strftime("%H:%M") == "03:45"


def test_wall_clock_times_map_to_zero_one_or_two_instants():
    assert len(wall_clock_instants(SPRING_FORWARD, time(2, 30), NY)) == 0
    assert len(wall_clock_instants(SPRING_FORWARD, time(3, 30), NY)) == 1
    assert len(wall_clock_instants(FALL_BACK, time(1, 30), NY)) == 2
