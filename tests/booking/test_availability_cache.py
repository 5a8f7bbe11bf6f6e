"""Open times are cached, yet a change to anything they depend on shows at once.

The form's page reads open times from the cache (booking/availability.py); every change
to appointments, hours, time off, closures, services, practitioners or the clinic's rules
must show on the very next page, and a time taken must never be offered again.
"""

from datetime import time, timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from booking.availability import open_slots
from booking.models import (
    Appointment,
    Clinic,
    ClinicClosure,
    Practitioner,
    Service,
    TimeOff,
    WorkingHours,
)
from tests.booking.conftest import local, page

FORM = reverse("booking:request")


def offered(client, service, day, practitioner=None):
    """The times the form's page offers on `day` (their ISO values)."""
    params = {"service": service.slug, "day": day.isoformat()}
    if practitioner:
        params["practitioner"] = practitioner.slug
    response = client.get(FORM, params)
    assert response.status_code == 200
    return set(page(response).options.get("slot", []))


@pytest.fixture
def warm(client, service, practitioner, monday):
    """The form's page for Monday, seen once so that its open times are in the cache."""
    before = offered(client, service, monday, practitioner)
    assert local(monday, 10).isoformat() in before
    return before


def test_a_time_booked_through_the_form_is_never_offered_again(
    client, warm, service, practitioner, monday, request_data, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(FORM, request_data())
    assert response.status_code == 302
    assert Appointment.objects.filter(start=local(monday, 10)).exists()
    assert local(monday, 10).isoformat() not in offered(client, service, monday, practitioner)
    # Nor for "any practitioner": the only one who works then is now busy.
    assert local(monday, 10).isoformat() not in offered(client, service, monday)


def test_a_time_freed_by_a_cancellation_is_offered_again(
    client, service, practitioner, monday, make_appointment
):
    appointment = make_appointment(local(monday, 10))
    assert local(monday, 10).isoformat() not in offered(client, service, monday, practitioner)
    appointment.cancel(note="Patient called.")
    assert local(monday, 10).isoformat() in offered(client, service, monday, practitioner)


def test_new_time_off_hides_times_at_once(client, warm, service, practitioner, monday):
    TimeOff.objects.create(
        practitioner=practitioner, start=local(monday, 9), end=local(monday, 12), reason="Course"
    )
    times = offered(client, service, monday, practitioner)
    assert local(monday, 10).isoformat() not in times
    assert local(monday, 13).isoformat() in times


def test_changed_working_hours_show_at_once(client, warm, service, practitioner, monday):
    hours = WorkingHours.objects.get(practitioner=practitioner, weekday=monday.weekday())
    hours.start_time = time(12)
    hours.save()
    times = offered(client, service, monday, practitioner)
    assert local(monday, 10).isoformat() not in times
    assert local(monday, 12).isoformat() in times


def test_a_new_closure_shows_at_once(client, warm, service, practitioner, monday):
    ClinicClosure.objects.create(start_date=monday, end_date=monday, reason="Training day")
    assert local(monday, 10).isoformat() not in offered(client, service, monday, practitioner)


def test_a_practitioner_who_stops_taking_bookings_is_not_offered(
    client, warm, service, practitioner, monday
):
    Practitioner.objects.filter(pk=practitioner.pk).update(is_active=False)
    practitioner.refresh_from_db()
    practitioner.save()  # as the admin does
    assert offered(client, service, monday) == set()


def test_a_longer_service_shows_at_once(client, warm, service, practitioner, monday):
    Service.objects.filter(pk=service.pk).update(duration_minutes=60)
    service.refresh_from_db()
    service.save()
    times = offered(client, service, monday, practitioner)
    # Working hours end at 17:00: a 60-minute visit starts at 16:00 at the latest.
    assert local(monday, 16).isoformat() in times
    assert local(monday, 16, 15).isoformat() not in times


def test_changed_booking_rules_show_at_once(client, warm, service, practitioner, monday):
    clinic = Clinic.load()
    clinic.slot_grid_minutes = 30
    clinic.save()
    times = offered(client, service, monday, practitioner)
    assert local(monday, 9).isoformat() in times
    assert local(monday, 10, 15).isoformat() not in times


def test_cached_times_are_cut_to_the_window_as_of_now(
    service, practitioner, monday, django_assert_num_queries
):
    """The cache holds the days' free times; notice and horizon apply as of each call."""
    now = local(monday, 8) - timedelta(hours=24)
    earlier = open_slots(service, monday, monday, now=now)
    assert earlier[0].start == local(monday, 9)
    later = now + timedelta(hours=2)  # 24 hours' notice now reaches 10:00
    with django_assert_num_queries(0):
        cut = open_slots(service, monday, monday, now=later)
    assert cut[0].start == local(monday, 10)
    assert [slot.start for slot in cut] == [s.start for s in earlier if s.start >= cut[0].start]


@pytest.mark.parametrize("count", [5, 500])
def test_form_page_queries_do_not_grow_with_appointments(
    client, service, practitioner, monday, count, fill_calendar, django_assert_num_queries
):
    fill_calendar(local(monday + timedelta(days=1), 9), count)
    # Once computed, the open times, services and practitioners come from the cache.
    offered(client, service, monday)
    with django_assert_num_queries(0):
        offered(client, service, monday)
    from clinic import generations

    # A booking changes the open times: one query, for the appointments and time off.
    # Who works when and the closures are kept until staff change them.
    generations.bump(generations.AVAILABILITY)
    with django_assert_num_queries(1):
        offered(client, service, monday)
    # Changed working hours or a new closure (three queries).
    generations.bump(generations.AVAILABILITY)
    generations.bump(generations.SCHEDULE)
    with django_assert_num_queries(3):
        offered(client, service, monday)
    # A changed service or practitioner: the two lists offered too.
    generations.bump(generations.AVAILABILITY)
    generations.bump(generations.SCHEDULE)
    generations.bump(generations.OFFERED)
    with django_assert_num_queries(5):
        offered(client, service, monday)


def test_a_booking_does_not_make_the_next_request_read_services_again(
    client, service, practitioner, monday, make_appointment, django_assert_num_queries
):
    offered(client, service, monday)
    make_appointment(local(monday, 11))  # booked through the workflow, as the form does
    # Only the appointments and time off are read again; working hours, closures,
    # services and practitioners are not.
    with django_assert_num_queries(1):
        times = offered(client, service, monday)
    assert local(monday, 11).isoformat() not in times
    assert local(monday, 9).isoformat() in times


def test_a_practitioner_taken_offline_leaves_the_booking_page_at_once(
    client, service, practitioner, other_practitioner, monday
):
    assert other_practitioner.name in client.get(FORM).content.decode()
    other_practitioner.is_active = False
    other_practitioner.save()
    assert other_practitioner.name not in client.get(FORM).content.decode()


def test_open_times_are_computed_in_at_most_three_queries(
    service, practitioner, other_practitioner, django_assert_max_num_queries
):
    today = timezone.localdate()
    Clinic.load()  # cached on a running site
    with django_assert_max_num_queries(3):
        open_slots(service, today, today + timedelta(days=60))


def test_a_time_closed_after_the_page_was_seen_cannot_be_booked(
    client, warm, practitioner, monday, request_data, make_appointment
):
    """Who works when is kept between bookings; a change to it is checked by the next one."""
    make_appointment(local(monday, 14))  # a booking between: it keeps who works when
    ClinicClosure.objects.create(start_date=monday, end_date=monday, reason="Training day")
    response = client.post(FORM, request_data())
    assert response.status_code == 200
    assert "Training day" in response.content.decode()
    assert not Appointment.objects.filter(start=local(monday, 10)).exists()


def test_a_time_outside_hours_changed_after_the_page_was_seen_cannot_be_booked(
    client, warm, practitioner, monday, request_data, make_appointment
):
    make_appointment(local(monday, 14))
    hours = WorkingHours.objects.get(practitioner=practitioner, weekday=monday.weekday())
    hours.start_time = time(12)
    hours.save()
    response = client.post(FORM, request_data())
    assert response.status_code == 200
    assert not Appointment.objects.filter(start=local(monday, 10)).exists()
