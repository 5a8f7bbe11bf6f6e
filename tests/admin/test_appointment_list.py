"""The front desk's list of appointments: what it shows, in which order, how to find one."""

import re
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from booking.models import Appointment

LIST = reverse("admin:booking_appointment_changelist")


def references_in(response):
    """The references in the order the list shows them."""
    return re.findall(r'<th class="field-reference"><a [^>]*>([A-Z0-9]{8})</a>', response.text)


def test_list_shows_who_what_when_status_and_age(front_desk_client, request_at):
    appointment = request_at(9, 30, first_name="Grace", last_name="Hopper")
    html = front_desk_client.get(LIST).text
    assert appointment.reference in html
    assert "Grace Hopper" in html
    assert "Initial consultation and treatment" in html
    assert "Maya Chen, L.Ac." in html
    local_start = timezone.localtime(appointment.start)
    assert f"{local_start:%a, %b} {local_start.day}, {local_start.year}, 9:30 AM" in html
    assert '<span class="status-badge status-requested">Requested</span>' in html
    assert "0\xa0minutes ago" in html


def test_the_list_has_the_whole_width_of_the_screen(front_desk_client, request_at):
    """Django's navigation sidebar took a third of a 1280-pixel screen from the list: its
    service and practitioner columns were cut off behind a sideways scroll."""
    request_at(9, 30)
    html = front_desk_client.get(LIST).text
    assert 'id="nav-sidebar"' not in html
    assert 'href="/admin/"' in html  # the way to the other pages: the breadcrumbs


def test_new_requests_come_first_then_the_newest(front_desk_client, request_at):
    confirmed_newest = request_at(9)
    request_old = request_at(11)
    request_new = request_at(13)
    Appointment.objects.filter(pk=request_old.pk).update(
        created_at=timezone.now() - timedelta(days=2)
    )
    Appointment.objects.filter(pk=confirmed_newest.pk).update(
        created_at=timezone.now() + timedelta(minutes=5)
    )
    confirmed_newest.confirm()
    assert references_in(front_desk_client.get(LIST)) == [
        request_new.reference,
        request_old.reference,
        confirmed_newest.reference,
    ]


def test_request_waiting_more_than_a_day_stands_out(front_desk_client, request_at):
    waiting = request_at(9)
    Appointment.objects.filter(pk=waiting.pk).update(created_at=timezone.now() - timedelta(days=2))
    assert 'class="waiting-long">2\xa0days ago' in front_desk_client.get(LIST).text


def test_status_filter(front_desk_client, request_at):
    requested, confirmed = request_at(9), request_at(11)
    confirmed.confirm()
    response = front_desk_client.get(LIST, {"status__exact": "confirmed"})
    assert references_in(response) == [confirmed.reference]
    response = front_desk_client.get(LIST, {"status__exact": "requested"})
    assert references_in(response) == [requested.reference]


@pytest.mark.parametrize(
    "choice", ["today", "tomorrow", "this_week", "next_week", "upcoming", "past"]
)
def test_date_filter_uses_the_clinic_calendar(
    front_desk_client, make_appointment, other_practitioner, at, choice
):
    today = timezone.localdate()
    monday = today - timedelta(days=today.weekday())
    # Late on Sunday is already Monday in UTC; just after midnight on Monday is next week.
    moments = [
        at(today, 12),
        at(today + timedelta(days=1), 12),
        at(monday + timedelta(days=6), 23, 45),
        at(monday + timedelta(days=7), 0, 15),
        at(monday + timedelta(days=21), 10),
        at(today - timedelta(days=10), 10),
    ]
    now = timezone.now()
    belongs = {
        "today": lambda m: m.date() == today,
        "tomorrow": lambda m: m.date() == today + timedelta(days=1),
        "this_week": lambda m: monday <= m.date() < monday + timedelta(days=7),
        "next_week": lambda m: monday + timedelta(days=7) <= m.date() < monday + timedelta(14),
        "upcoming": lambda m: m >= now,
        "past": lambda m: m < now,
    }[choice]
    expected = []
    for number, start in enumerate(moments):
        who = other_practitioner if number % 2 else None
        appointment = make_appointment(start, **({"practitioner": who} if who else {}))
        if belongs(start):
            expected.append(appointment.reference)
    response = front_desk_client.get(LIST, {"when": choice})
    assert sorted(references_in(response)) == sorted(expected)
    assert expected


def test_service_and_practitioner_filters(
    front_desk_client, request_at, short_service, other_practitioner
):
    maya = request_at(9)
    samuel_chat = request_at(9, practitioner=other_practitioner, service=short_service)
    assert references_in(
        front_desk_client.get(LIST, {"practitioner__id__exact": other_practitioner.pk})
    ) == [samuel_chat.reference]
    assert references_in(front_desk_client.get(LIST, {"service__id__exact": maya.service.pk})) == [
        maya.reference
    ]


def test_date_hierarchy_narrows_the_list_to_a_day(front_desk_client, request_at, monday):
    on_monday = request_at(9)
    request_at(9, day=monday + timedelta(days=1))
    html = front_desk_client.get(LIST).text
    assert "start__day=" in html or "start__month=" in html
    response = front_desk_client.get(
        LIST, {"start__year": monday.year, "start__month": monday.month, "start__day": monday.day}
    )
    assert references_in(response) == [on_monday.reference]


@pytest.mark.parametrize(
    "typed",
    ["reference", "Lovelace", "ada lovelace", "ADA@EXAMPLE.COM", "+12125550123", "(212) 555-0123"],
)
def test_search_finds_by_reference_name_email_and_phone(
    front_desk_client, request_at, other_practitioner, typed
):
    found = request_at(9)
    request_at(
        9,
        practitioner=other_practitioner,
        first_name="Alan",
        last_name="Turing",
        email="alan@example.com",
        phone="+441632960000",
    )
    query = found.reference.lower() if typed == "reference" else typed
    assert references_in(front_desk_client.get(LIST, {"q": query})) == [found.reference]


def test_list_links_to_the_schedule_and_the_export(front_desk_client, db):
    html = front_desk_client.get(LIST, {"status__exact": "requested"}).text
    assert reverse("admin:booking_appointment_schedule") in html
    assert reverse("admin:booking_appointment_export") + "?status__exact=requested" in html


# A practitioner opens the list for their own coming appointments.


def test_a_practitioner_sees_their_coming_appointments_soonest_first(
    practitioner_client, make_appointment, at, monday
):
    later = make_appointment(at(monday + timedelta(days=2), 9))
    soon = make_appointment(at(monday, 14))
    sooner = make_appointment(at(monday, 9))
    cancelled = make_appointment(at(monday, 11))
    cancelled.cancel()
    past = make_appointment(at(monday, 16))
    Appointment.objects.filter(pk=past.pk).update(
        start=timezone.now() - timedelta(days=3), end=timezone.now() - timedelta(days=3, hours=-1)
    )
    response = practitioner_client.get(LIST, follow=True)
    assert references_in(response) == [sooner.reference, soon.reference, later.reference]


def test_the_front_desk_still_opens_the_queue_of_new_requests(front_desk_client, request_at):
    first, second = request_at(9), request_at(11)
    second.confirm()
    response = front_desk_client.get(LIST)
    assert response.status_code == 200
    assert references_in(response) == [first.reference, second.reference]


@pytest.mark.parametrize("choice", ["upcoming", "this_week"])
def test_a_date_filter_lists_by_time(front_desk_client, request_at, choice, monday):
    today = timezone.localdate()
    day = today + timedelta(days=2) if choice == "this_week" else monday
    if choice == "this_week" and day.isocalendar().week != today.isocalendar().week:
        pytest.skip("no two days left in this week")
    early, late = request_at(9, day=day), request_at(15, day=day)  # the newest first otherwise
    assert references_in(front_desk_client.get(LIST, {"when": choice})) == [
        early.reference,
        late.reference,
    ]


def test_past_appointments_are_listed_latest_first(front_desk_client, request_at):
    newer, older = request_at(9), request_at(11)  # the newest request first otherwise
    for appointment, days in ((older, 5), (newer, 2)):
        Appointment.objects.filter(pk=appointment.pk).update(
            start=timezone.now() - timedelta(days=days),
            end=timezone.now() - timedelta(days=days, hours=-1),
        )
    assert references_in(front_desk_client.get(LIST, {"when": "past"})) == [
        newer.reference,
        older.reference,
    ]
