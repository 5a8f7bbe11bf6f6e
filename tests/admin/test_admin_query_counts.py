"""The appointment list and the schedule run as many queries for 500 appointments as for 5."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from booking.models import Appointment, Practitioner, Service
from tests.conftest import numbered_appointment

LIST = reverse("admin:booking_appointment_changelist")
SCHEDULE = reverse("admin:booking_appointment_schedule")
STATUSES = ["requested", "confirmed", "completed", "no_show", "cancelled", "declined"]


@pytest.fixture
def booked(practitioner, other_practitioner, at, monday):
    """`booked(n)`: n appointments on one Monday, ten minutes each, over five practitioners."""
    practitioners = [
        practitioner,
        other_practitioner,
        *(Practitioner.objects.create(name=f"P{i}", slug=f"p{i}") for i in range(3)),
    ]
    service = Service.objects.create(name="Short visit", slug="short-visit", duration_minutes=10)

    def book(count):
        first = at(monday, 6)
        Appointment.objects.bulk_create(
            numbered_appointment(
                i,
                service=service,
                practitioner=practitioners[i % 5],
                start=first + timedelta(minutes=10 * (i // 5)),
                status=STATUSES[i % len(STATUSES)],
            )
            for i in range(count)
        )
        return monday

    return book


def warm_up(client, url, params=None):
    # The first page of a session also loads the clinic's record into the cache.
    assert client.get(url, params or {}).status_code == 200


@pytest.mark.parametrize("count", [5, 500])
def test_appointment_list_queries_do_not_grow_with_appointments(
    admin_client, booked, count, django_assert_num_queries
):
    booked(count)
    warm_up(admin_client, LIST)
    # Session, user, count, the page of rows, the first and last dates (date hierarchy),
    # services and practitioners (filters).
    with django_assert_num_queries(8):
        response = admin_client.get(LIST)
    assert response.context["cl"].result_count == count


@pytest.mark.parametrize("count", [5, 500])
def test_appointment_list_of_front_desk_queries_do_not_grow(
    front_desk_client, booked, count, django_assert_num_queries
):
    booked(count)
    warm_up(front_desk_client, LIST)
    # As above, plus the user's and their groups' permissions.
    with django_assert_num_queries(10):
        front_desk_client.get(LIST, {"status__exact": "confirmed", "q": "patient"})


@pytest.mark.parametrize("count", [5, 500])
@pytest.mark.parametrize("view", ["day", "week"])
def test_schedule_queries_do_not_grow_with_appointments(
    admin_client, booked, count, view, django_assert_num_queries
):
    day = booked(count)
    params = {"view": view, "date": day.isoformat()}
    warm_up(admin_client, SCHEDULE, params)
    # Session, user, appointments, practitioners, working hours, time off, closures.
    with django_assert_num_queries(7):
        response = admin_client.get(SCHEDULE, params)
    shown = response.context["layout"]
    if view == "day":
        placed = sum(len(column.placements) for column in shown.columns)
    else:
        placed = sum(len(cell.appointments) for d in shown.days for cell in d.cells)
    assert placed == len(
        [i for i in range(count) if STATUSES[i % 6] not in ("cancelled", "declined")]
    )


@pytest.mark.parametrize("count", [5, 500])
def test_admin_home_queries_do_not_grow(admin_client, booked, count, django_assert_num_queries):
    booked(count)
    warm_up(admin_client, reverse("admin:index"))
    # Session, user, requests awaiting a decision, today's appointments, recent actions.
    with django_assert_num_queries(5):
        admin_client.get(reverse("admin:index"))


@pytest.mark.parametrize("count", [5, 500])
def test_appointment_list_over_years_runs_the_same_queries(
    admin_client, service, practitioner, count, django_assert_num_queries
):
    """Two years of history cost the list what one day does (the date hierarchy's years)."""
    first = timezone.now() - timedelta(days=730)
    Appointment.objects.bulk_create(
        numbered_appointment(
            i,
            service=service,
            practitioner=practitioner,
            start=first + timedelta(hours=35 * i),
            status="completed",
        )
        for i in range(count)
    )
    warm_up(admin_client, LIST)
    with django_assert_num_queries(8):
        response = admin_client.get(LIST)
    assert response.context["cl"].result_count == count
