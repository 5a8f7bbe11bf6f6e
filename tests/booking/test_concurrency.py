"""Many patients asking for one time at the same moment: exactly one gets it (PostgreSQL)."""

import threading
import time

import pytest
from django.db import connection, connections
from django.test import Client

from booking.forms import issue_form_token
from booking.models import Appointment
from tests.booking.conftest import local

# Committed rows, seen by other threads' connections; serialized_rollback puts back what
# the migrations made, for the tests after these (see tests/conftest.py).
pytestmark = [
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]

REQUESTS = 24


@pytest.fixture(autouse=True)
def _needs_postgresql():
    if connection.vendor != "postgresql":
        pytest.skip(
            "needs PostgreSQL: SQLite serialises every writer, so it cannot show a race; "
            "run with DATABASE_URL=postgres://..."
        )


def post_at_once(datas):
    """POST each form from its own thread and connection, all released together."""
    barrier = threading.Barrier(len(datas))
    statuses = [None] * len(datas)

    def send(index, data):
        try:
            client = Client(REMOTE_ADDR=f"198.51.100.{index}")
            barrier.wait()
            statuses[index] = client.post("/book/", data).status_code
        finally:
            connections.close_all()

    threads = [threading.Thread(target=send, args=(n, d)) for n, d in enumerate(datas)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return statuses


def forms_for_one_slot(service, practitioner, monday, count, hour=10):
    served = time.time() - 10
    return [
        {
            "service": service.slug,
            "practitioner": practitioner.slug if practitioner else "",
            "slot": local(monday, hour).isoformat(),
            "first_name": "Patient",
            "last_name": f"Number {n}",
            "email": f"patient{n}@example.com",
            "phone": "+12125550123",
            "is_new_patient": "True",
            "concern": "acute_pain",
            "consent": "on",
            "form_token": issue_form_token(served),
        }
        for n in range(count)
    ]


def test_concurrent_requests_for_one_slot_book_it_once(service, practitioner, monday):
    statuses = post_at_once(forms_for_one_slot(service, practitioner, monday, REQUESTS))
    assert Appointment.objects.count() == 1
    assert statuses.count(302) == 1
    assert statuses.count(200) == REQUESTS - 1  # the form again, with the nearest times


def test_concurrent_requests_for_any_practitioner_fill_each_once(
    service, practitioner, other_practitioner, monday
):
    statuses = post_at_once(forms_for_one_slot(service, None, monday, REQUESTS))
    booked = Appointment.objects.filter(start=local(monday, 10))
    assert sorted(a.practitioner.slug for a in booked) == ["maya-chen", "samuel-okafor"]
    assert statuses.count(302) == 2


@pytest.mark.parametrize("practitioners", [1, 2])
def test_one_form_sent_many_times_at_once_books_once(
    service, practitioner, other_practitioner, monday, practitioners
):
    if practitioners == 1:
        other_practitioner.delete()
    for hour in (9, 11, 13, 15):
        data = forms_for_one_slot(service, None, monday, 1, hour=hour)[0]
        data["email"] = f"patient-at-{hour}@example.com"
        statuses = post_at_once([data] * 8)
        assert Appointment.objects.filter(start=local(monday, hour)).count() == 1
        # Every click lands on the same request page.
        assert statuses == [302] * 8
