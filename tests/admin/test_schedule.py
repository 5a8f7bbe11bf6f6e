"""The schedule: a day or a week, a column per practitioner, placed by the clinic's clock."""

import re
from datetime import UTC, date, timedelta
from pathlib import Path

import pytest
from django.contrib.staticfiles import finders
from django.urls import reverse
from django.utils import timezone

from booking.models import ClinicClosure, TimeOff

SCHEDULE = reverse("admin:booking_appointment_schedule")
SPRING_FORWARD = date(2027, 3, 14)  # 2:00 EST becomes 3:00 EDT in New York
FALL_BACK = date(2027, 11, 7)  # 2:00 EDT becomes 1:00 EST


@pytest.fixture(autouse=True)
def _new_york(settings):
    settings.TIME_ZONE = "America/New_York"


def day_view(client, day):
    return client.get(SCHEDULE, {"view": "day", "date": day.isoformat()})


def placement_of(response, appointment):
    """(row label, rows spanned, lane) of an appointment in a day view, from the page."""
    link = reverse("admin:booking_appointment_change", args=[appointment.pk])
    for row in response.context["layout"].rows:
        for cell in row.cells:
            if cell.kind == "appointment" and cell.placement.appointment.pk == appointment.pk:
                label = f"{row.time:%H:%M}"
                # The page shows it in the row of that label, too.
                html_row = next(
                    chunk for chunk in response.text.split("<tr") if f'href="{link}"' in chunk
                )
                assert re.search(r'class="time-col">\s*' + re.escape(label_12h(row.time)), html_row)
                return label, cell.row_span, cell.lane
    raise AssertionError(f"{appointment.reference} is not on the schedule")


def label_12h(moment):
    hour = moment.hour % 12 or 12
    return f"{hour}:{moment:%M} {'AM' if moment.hour < 12 else 'PM'}"


def test_schedule_shows_today_by_default(front_desk_client, practitioner):
    response = front_desk_client.get(SCHEDULE)
    assert response.status_code == 200
    assert response.context["day"] == timezone.localdate()
    today = timezone.localdate()
    assert f"{today:%A, %B} {today.day}, {today.year}" in response.text


def test_day_view_has_a_column_per_practitioner_and_places_appointments_by_time(
    front_desk_client, request_at, other_practitioner, short_service, monday
):
    maya = request_at(10)  # 75 minutes
    samuel = request_at(14, 30, practitioner=other_practitioner, service=short_service)
    samuel.confirm()
    response = day_view(front_desk_client, monday)
    columns = [c.practitioner.name for c in response.context["layout"].columns]
    assert columns == ["Maya Chen, L.Ac.", "Samuel Okafor, L.Ac."]
    assert placement_of(response, maya) == ("10:00", 5, 0)
    assert placement_of(response, samuel) == ("14:30", 1, 0)
    assert '<span class="status-badge status-confirmed">Confirmed</span>' in response.text
    assert "Ada Lovelace" in response.text


def test_day_view_rows_follow_working_hours(front_desk_client, practitioner, monday):
    rows = day_view(front_desk_client, monday).context["layout"].rows
    assert f"{rows[0].time:%H:%M}" == "09:00"
    assert f"{rows[-1].time:%H:%M}" == "16:45"


def test_free_times_link_to_a_prefilled_booking_for_staff_who_can_book(
    front_desk_client, practitioner_client, practitioner, monday, at
):
    start = at(monday, 9).isoformat().replace("+", "%2B").replace(":", "%3A")
    link = f"practitioner={practitioner.pk}&amp;start={start}"
    assert link in day_view(front_desk_client, monday).text
    assert "start=" not in day_view(practitioner_client, monday).text


def test_time_off_and_closures_are_not_free(front_desk_client, practitioner, monday, at):
    TimeOff.objects.create(practitioner=practitioner, start=at(monday, 12), end=at(monday, 13))
    rows = day_view(front_desk_client, monday).context["layout"].rows
    kinds = {f"{row.time:%H:%M}": row.cells[0].kind for row in rows}
    assert kinds["11:45"] == "free"
    assert kinds["12:00"] == kinds["12:45"] == "off"
    assert kinds["13:00"] == "free"
    ClinicClosure.objects.create(start_date=monday, end_date=monday, reason="Staff training")
    response = day_view(front_desk_client, monday)
    assert "The clinic is closed: Staff training." in response.text
    assert all(row.cells[0].kind == "off" for row in response.context["layout"].rows)


def test_declined_and_cancelled_appointments_leave_the_schedule(
    front_desk_client, request_at, monday
):
    declined, cancelled, kept = request_at(9), request_at(11), request_at(13)
    declined.decline()
    cancelled.cancel()
    html = day_view(front_desk_client, monday).text
    assert (
        kept.reference in html
        or reverse("admin:booking_appointment_change", args=[kept.pk]) in html
    )
    for gone in (declined, cancelled):
        assert reverse("admin:booking_appointment_change", args=[gone.pk]) not in html


def test_day_navigation(front_desk_client, practitioner):
    response = day_view(front_desk_client, SPRING_FORWARD)
    links = response.context["links"]
    assert links["previous"] == "?view=day&date=2027-03-13"
    assert links["next"] == "?view=day&date=2027-03-15"
    assert links["week"] == "?view=week&date=2027-03-14"
    assert 'href="?view=day&amp;date=2027-03-13"' in response.text


def test_week_navigation_starts_on_monday(front_desk_client, practitioner):
    response = front_desk_client.get(SCHEDULE, {"view": "week", "date": "2027-03-10"})
    assert "Week of March 8, 2027" in response.text
    links = response.context["links"]
    assert links["previous"] == "?view=week&date=2027-03-01"
    assert links["next"] == "?view=week&date=2027-03-15"


def test_unreadable_date_shows_today(front_desk_client, practitioner):
    response = front_desk_client.get(SCHEDULE, {"date": "yesterday"})
    assert response.status_code == 200
    assert response.context["day"] == timezone.localdate()


def test_placement_on_the_day_the_clocks_go_forward(
    front_desk_client, make_appointment, short_service, at
):
    before = make_appointment(at(SPRING_FORWARD, 1, 30), service=short_service)
    # 75 minutes from 1:45 EST end at 4:00 EDT on the wall clock.
    across = make_appointment(at(SPRING_FORWARD, 1, 45))
    morning = make_appointment(at(SPRING_FORWARD, 10))
    response = day_view(front_desk_client, SPRING_FORWARD)
    assert placement_of(response, before) == ("01:30", 1, 0)
    assert placement_of(response, across) == ("01:45", 9, 0)
    assert placement_of(response, morning) == ("10:00", 5, 0)
    skipped = [f"{row.time:%H:%M}" for row in response.context["layout"].rows if not row.exists]
    assert skipped == ["02:00", "02:15", "02:30", "02:45"]
    assert "4:00 AM" in response.text  # the end of the one across the change


def test_placement_on_the_day_the_clocks_go_back(
    front_desk_client, make_appointment, short_service, at
):
    first_half_past_one = make_appointment(at(FALL_BACK, 1, 30), service=short_service)
    second_half_past_one = make_appointment(
        at(FALL_BACK, 1, 30).replace(fold=1), service=short_service
    )
    real_gap = second_half_past_one.start.astimezone(UTC) - first_half_past_one.start
    assert real_gap == timedelta(hours=1)
    morning = make_appointment(at(FALL_BACK, 10))
    response = day_view(front_desk_client, FALL_BACK)
    # Both at 1:30 on the wall clock: side by side, not shifted to 0:30 or 2:30.
    assert placement_of(response, first_half_past_one) == ("01:30", 1, 0)
    assert placement_of(response, second_half_past_one) == ("01:30", 1, 1)
    assert placement_of(response, morning) == ("10:00", 5, 0)
    assert response.context["layout"].columns[0].lanes == 2


@pytest.mark.parametrize("change_day", [SPRING_FORWARD, FALL_BACK])
def test_week_view_keeps_local_times_across_a_daylight_saving_change(
    front_desk_client, make_appointment, at, change_day
):
    saturday = change_day - timedelta(days=1)
    monday_after = change_day + timedelta(days=1)
    booked = [make_appointment(at(day, 10)) for day in (saturday, change_day, monday_after)]
    week = front_desk_client.get(SCHEDULE, {"view": "week", "date": change_day.isoformat()})
    days = {d.day: d for d in week.context["layout"].days}
    assert [a.pk for a in days[saturday].cells[0].appointments] == [booked[0].pk]
    assert [a.pk for a in days[change_day].cells[0].appointments] == [booked[1].pk]
    assert monday_after not in days
    html = week.text
    assert html.count("10:00 AM") == 2
    next_week = front_desk_client.get(SCHEDULE, {"view": "week", "date": monday_after.isoformat()})
    first = next_week.context["layout"].days[0]
    assert [a.pk for a in first.cells[0].appointments] == [booked[2].pk]


def test_week_view_shows_hours_and_days_off(front_desk_client, practitioner, monday):
    week = front_desk_client.get(SCHEDULE, {"view": "week", "date": monday.isoformat()})
    html = week.text
    assert "9:00–5:00 PM" in html
    assert "9:00–1:00 PM" in html  # Saturday
    assert "Not working" in html  # Sunday


def test_schedule_is_printable(front_desk_client, practitioner):
    html = front_desk_client.get(SCHEDULE).text
    assert "admin-clinic/admin" in html
    assert "data-print" in html
    css = Path(finders.find("admin-clinic/admin.css")).read_text()
    assert "@media print" in css
    assert ".schedule-nav" in css.split("@media print", 1)[1]


def test_schedule_is_linked_from_the_admin_home_and_the_list(front_desk_client, db):
    home = front_desk_client.get(reverse("admin:index")).text
    assert SCHEDULE in home
    assert SCHEDULE in front_desk_client.get(reverse("admin:booking_appointment_changelist")).text
