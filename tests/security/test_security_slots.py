"""Forged times: in the past, off the grid, beyond the horizon, and across daylight saving.

A slot is sent as an ISO 8601 instant with its offset. Whatever is sent, the patient gets
either the instant it names (if it is open) or a reason; never a 5xx, never a shifted time.
"""

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from booking.models import Appointment, WorkingHours
from tests.booking.conftest import local
from tests.security.conftest import BOOK, booked_once, nothing_stored_or_sent

NY = ZoneInfo("America/New_York")
# 2027 in America/New_York: clocks go forward at 2:00 on March 14, back at 2:00 on November 7.
SPRING_FORWARD = datetime(2027, 3, 14)
FALL_BACK = datetime(2027, 11, 7)


def refused_with(response, message):
    assert response.status_code == 200
    assert message in response.content.decode()
    assert nothing_stored_or_sent()


@pytest.mark.parametrize(
    ("when", "message"),
    [
        (lambda monday: local(monday - timedelta(days=30), 10), "That time has already passed."),
        (lambda monday: timezone.now() + timedelta(hours=2), "Online requests need at least"),
        (lambda monday: local(monday, 10, 7), "Appointments start every 15 minutes"),
        (lambda monday: local(monday, 10).replace(second=30), "Appointments start every 15"),
        (lambda monday: local(monday, 10).replace(microsecond=1), "Appointments start every 15"),
        (lambda monday: local(monday, 7), "does not see patients at that time"),
        (lambda monday: local(monday + timedelta(days=6), 10), "does not see patients"),  # Sunday
        (lambda monday: local(monday + timedelta(days=70), 10), "up to 60 days ahead"),
        (lambda monday: datetime(9999, 12, 31, 9, tzinfo=NY), "up to 60 days ahead"),
    ],
    ids=[
        "past",
        "too-soon",
        "off-grid",
        "seconds",
        "microseconds",
        "before-opening",
        "sunday",
        "beyond-horizon",
        "year-9999",
    ],
)
def test_a_time_that_is_not_open_is_refused_with_its_reason(
    client, request_data, monday, when, message
):
    slot = when(monday)
    slot = slot.replace(second=0, microsecond=0) if "need at least" in message else slot
    refused_with(client.post(BOOK, request_data(slot=slot.isoformat())), message)


@pytest.mark.parametrize(
    "slot",
    [
        "2027-01-11T10:00:00",  # no offset: which 10:00?
        "2027-01-11 10:00",
        "2027-01-11T10:00:00Z[America/New_York]",
        "20270111T100000-0500x",
        "2027-01-11T10:00:00-05:00/2027-01-11T11:00:00-05:00",
        "P1D",
        "now",
        "-1",
    ],
)
def test_a_time_without_an_offset_or_not_a_time_is_refused(client, request_data, slot):
    refused_with(client.post(BOOK, request_data(slot=slot)), "Choose one of the times listed.")


def test_the_same_instant_in_another_zone_books_that_instant(client, request_data, monday):
    # 10:00 in New York is 15:00 UTC (winter) or 14:00 UTC (summer): the instant counts.
    ten = local(monday, 10)
    response = client.post(BOOK, request_data(slot=ten.astimezone(ZoneInfo("UTC")).isoformat()))
    assert booked_once(response).start == ten


@pytest.fixture
def around(monkeypatch, practitioner, short_service, request_data):
    """The site's clock a week before a daylight-saving change, with night hours on Sunday."""
    WorkingHours.objects.create(
        practitioner=practitioner, weekday=6, start_time=time(0), end_time=time(4)
    )

    def at(change_day):
        now = (change_day - timedelta(days=7)).replace(hour=12, tzinfo=NY)
        monkeypatch.setattr(timezone, "now", lambda: now.astimezone(ZoneInfo("UTC")))
        return lambda slot: request_data(service=short_service.slug, slot=slot)

    return at


def offered(client, short_service, practitioner, day):
    params = {"service": short_service.slug, "practitioner": practitioner.slug, "day": day}
    return [t["value"] for t in client.get("/book/times/", params).json()["times"]]


def test_the_hour_skipped_in_spring_is_never_offered_or_booked(
    client, around, short_service, practitioner
):
    data = around(SPRING_FORWARD)
    values = offered(client, short_service, practitioner, "2027-03-14")
    assert values and not [v for v in values if "T02:" in v]
    refused_with(client.post(BOOK, data("2027-03-14T02:30:00")), "Choose one of the times")


def test_a_wall_clock_time_in_the_skipped_hour_books_the_instant_its_offset_names(
    client, around, short_service, practitioner
):
    # 02:30 at the winter offset does not exist on the wall; as an instant it is 03:30 EDT,
    # an open time, and the patient's page says 3:30 so that they come at the right time.
    data = around(SPRING_FORWARD)
    appointment = booked_once(client.post(BOOK, data("2027-03-14T02:30:00-05:00")))
    assert timezone.localtime(appointment.start).strftime("%H:%M %Z") == "03:30 EDT"
    assert "3:30 AM" in client.get(appointment.patient_url).content.decode()


def test_the_hour_repeated_in_autumn_books_both_times_apart(
    client, around, short_service, practitioner, request_data
):
    data = around(FALL_BACK)
    values = offered(client, short_service, practitioner, "2027-11-07")
    first, second = "2027-11-07T01:30:00-04:00", "2027-11-07T01:30:00-05:00"
    assert first in values and second in values
    assert client.post(BOOK, data(first)).status_code == 302
    # Another patient, another form: an hour later in real time, though the clock reads the same.
    assert client.post(BOOK, {**data(second), "email": "grace@example.com"}).status_code == 302
    starts = sorted(Appointment.objects.values_list("start", flat=True))
    assert starts[1] - starts[0] == timedelta(hours=1)
    assert [timezone.localtime(s).strftime("%H:%M") for s in starts] == ["01:30", "01:30"]


def test_a_naive_time_in_the_repeated_hour_is_refused_as_ambiguous(client, around):
    data = around(FALL_BACK)
    refused_with(client.post(BOOK, data("2027-11-07T01:30:00")), "Choose one of the times")
