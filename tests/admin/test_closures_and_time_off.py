"""Staff never confirm or put an appointment on a day the clinic is closed or in a
practitioner's time off, and are told which requests a new closure or time off covers.

Working hours are softer: a phone booking outside them may be agreed on purpose, so it
is saved with a warning.
"""

import re
from datetime import date, timedelta

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse

from booking.models import Appointment, ClinicClosure, OutgoingEmail, TimeOff
from tests.admin.test_appointment_form import ADD, change_url, phone_booking

Status = Appointment.Status


def messages_after(response):
    return [str(m) for m in get_messages(response.wsgi_request)]


@pytest.fixture
def away_on(practitioner, at):
    """Maya Chen's time off for the whole of a day."""

    def away(day, reason="Sick"):
        return TimeOff.objects.create(
            practitioner=practitioner,
            start=at(day, 7),
            end=at(day, 19),
            reason=reason,
        )

    return away


def closed_on(day, reason="Flood"):
    return ClinicClosure.objects.create(start_date=day, end_date=day, reason=reason)


# Confirming.


def test_confirming_a_request_in_the_practitioners_time_off_is_refused(
    front_desk_client, request_at, run_action, away_on, monday
):
    request = request_at(10)
    away_on(monday)
    emails_before = OutgoingEmail.objects.count()
    response = run_action(front_desk_client, "confirm", [request])
    request.refresh_from_db()
    assert request.status == Status.REQUESTED
    assert messages_after(response) == [
        f"1 not confirmed: {request.reference}: Maya Chen, L.Ac. is away then (Sick); "
        "move it to another time or decline it."
    ]
    assert OutgoingEmail.objects.count() == emails_before  # the patient is told nothing


def test_confirming_a_request_on_a_closure_day_is_refused_from_its_page(
    front_desk_client, request_at, monday
):
    request = request_at(10)
    closed_on(monday)
    url = reverse("admin:booking_appointment_status", args=[request.pk, "confirmed"])
    response = front_desk_client.post(url, {"note": ""}, follow=True)
    request.refresh_from_db()
    assert request.status == Status.REQUESTED
    assert "the clinic is closed (Flood)" in response.text


def test_time_off_at_another_hour_of_the_day_does_not_stop_a_confirmation(
    front_desk_client, request_at, run_action, practitioner, at, monday
):
    request = request_at(10)  # 10:00-11:15
    TimeOff.objects.create(practitioner=practitioner, start=at(monday, 11, 15), end=at(monday, 17))
    run_action(front_desk_client, "confirm", [request])
    request.refresh_from_db()
    assert request.status == Status.CONFIRMED


# Phone bookings and moves.


def test_a_phone_booking_on_a_closure_day_is_refused_with_a_clear_error(
    front_desk_client, service, practitioner, at, monday
):
    closed_on(monday, "Christmas")
    response = front_desk_client.post(ADD, phone_booking(service, practitioner, at(monday, 10)))
    assert response.status_code == 200
    assert "Not at this time: the clinic is closed (Christmas)." in response.text
    assert not Appointment.objects.exists()


def test_moving_an_appointment_into_time_off_is_refused_and_changes_nothing(
    front_desk_client, request_at, form_of, away_on, at, monday
):
    appointment = request_at(10)
    tuesday = monday + timedelta(days=1)
    away_on(tuesday, reason="Training")
    data = form_of(front_desk_client.get(change_url(appointment)))
    data.update({"start_0": f"{tuesday:%Y-%m-%d}", "start_1": "10:00", "_save": "Save"})
    response = front_desk_client.post(change_url(appointment), data)
    assert response.status_code == 200
    assert "Not at this time: Maya Chen, L.Ac. is away then (Training)." in response.text
    appointment.refresh_from_db()
    assert appointment.start == at(monday, 10)
    assert appointment.sequence == 0
    assert not appointment.changes.filter(is_reschedule=True).exists()


def test_a_phone_booking_outside_working_hours_is_saved_with_a_warning(
    front_desk_client, service, practitioner, at, monday
):
    response = front_desk_client.post(
        ADD, phone_booking(service, practitioner, at(monday, 7, 30)), follow=True
    )
    appointment = Appointment.objects.get()
    assert appointment.status == Status.CONFIRMED
    warning = (
        f"{appointment.reference} is outside Maya Chen, L.Ac.'s working hours: "
        "check that this was agreed."
    )
    assert warning in messages_after(response) or warning in response.text


def test_a_phone_booking_inside_working_hours_has_no_warning(
    front_desk_client, service, practitioner, at, monday
):
    response = front_desk_client.post(
        ADD, phone_booking(service, practitioner, at(monday, 10)), follow=True
    )
    assert "working hours" not in response.text


# New closures and time off over requests already made.


def test_a_closure_over_active_appointments_names_them_when_saved(
    admin_client, request_at, other_practitioner, monday
):
    maya = request_at(10)
    samuel = request_at(10, practitioner=other_practitioner)
    cancelled = request_at(14)
    cancelled.cancel()
    response = admin_client.post(
        reverse("admin:booking_clinicclosure_add"),
        {"start_date": f"{monday:%Y-%m-%d}", "end_date": f"{monday:%Y-%m-%d}", "reason": "Flood"},
        follow=True,
    )
    assert ClinicClosure.objects.count() == 1
    html = response.text
    assert "2 active appointments fall in this closure" in html
    for appointment in (maya, samuel):
        assert f'href="{change_url(appointment)}"' in html
    assert cancelled.reference not in html
    for appointment in (maya, samuel):  # kept as they are, for staff to decide
        appointment.refresh_from_db()
        assert appointment.status == Status.REQUESTED


def test_time_off_over_an_active_appointment_names_it_when_saved(
    admin_client, request_at, practitioner, form_of, monday
):
    appointment = request_at(10)
    request_at(10, day=monday + timedelta(days=1), email="other@example.com")  # not covered
    url = reverse("admin:booking_practitioner_change", args=[practitioner.pk])
    data = form_of(admin_client.get(url), "practitioner_form")
    data.update(
        {
            "time_off-TOTAL_FORMS": "1",
            "time_off-0-start_0": f"{monday:%Y-%m-%d}",
            "time_off-0-start_1": "09:00",
            "time_off-0-end_0": f"{monday:%Y-%m-%d}",
            "time_off-0-end_1": "13:00",
            "time_off-0-reason": "Dentist",
            "_save": "Save",
        }
    )
    response = admin_client.post(url, data, follow=True)
    assert TimeOff.objects.count() == 1
    html = response.text
    assert "1 active appointment falls in this time off" in html
    assert f'href="{change_url(appointment)}"' in html


def test_the_closure_list_writes_its_days_as_the_admin_writes_its_times(front_desk_client):
    """ "Thu, Dec 24, 2026", as the appointment list's "Thu, Dec 24, 2026, 9:00 AM"; not
    Django's "Dec. 24, 2026", which leaves staff to work out the weekday."""
    closed_on(date(2026, 12, 24), reason="Christmas Eve")
    page = front_desk_client.get(reverse("admin:booking_clinicclosure_changelist"))
    html = page.content.decode()
    assert "Thu, Dec 24, 2026" in html
    assert "Dec. 24, 2026" not in html


def test_a_closure_for_good_names_the_appointments_it_covers(
    admin_client, client, request_at, monday
):
    maya = request_at(10)
    response = admin_client.post(
        reverse("admin:booking_clinicclosure_add"),
        {"start_date": f"{monday:%Y-%m-%d}", "end_date": "9999-12-31", "reason": "Moving away"},
        follow=True,
    )
    assert response.status_code == 200
    assert ClinicClosure.objects.get().end_date.year == 9999
    assert "1 active appointment falls in this closure" in response.text
    assert f'href="{change_url(maya)}"' in response.text
    # Patients are offered no time from then on.
    booking_page = client.get(reverse("booking:request"), {"day": f"{monday:%Y-%m-%d}"})
    assert booking_page.status_code == 200
    offered = re.findall(r'name="slot" id="[^"]+" value="(\d{4}-\d\d-\d\d)', booking_page.text)
    assert all(day < f"{monday:%Y-%m-%d}" for day in offered)
