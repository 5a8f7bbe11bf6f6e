"""What the attack suites share: the patient's filled-in form, staff, and "nothing happened".

The booking and admin fixtures are the ones the other suites use (imported, not copied), so
an attack is always made against the same form and the same staff as the ordinary tests.
"""

import pytest
from django.core import mail

from booking.models import Appointment, OutgoingEmail, StatusChange
from tests.admin.conftest import (  # noqa: F401 (fixtures)
    form_of,
    front_desk,
    front_desk_client,
    request_at,
    run_action,
)
from tests.booking.conftest import (  # noqa: F401 (fixtures)
    CONTRACT_FIELDS,
    monday,
    request_data,
    seconds_pass,
    served_a_while_ago,
)

BOOK = "/book/"

# The form's text fields, which a patient types into.
TEXT_FIELDS = ["first_name", "last_name", "email", "phone", "message"]
# Every field of the public contract (DESIGN.md), the hidden ones included.
FORM_FIELDS = list(CONTRACT_FIELDS)


def nothing_stored_or_sent():
    """No appointment, no history, no email queued, and none sent."""
    return (
        Appointment.objects.count() == 0
        and StatusChange.objects.count() == 0
        and OutgoingEmail.objects.count() == 0
        and len(mail.outbox) == 0
    )


def booked_once(response):
    """The answer to a successful request: the patient's own page, and one appointment."""
    appointment = Appointment.objects.get()
    assert response.status_code == 302
    assert response.url == appointment.patient_url
    return appointment


@pytest.fixture
def booked(client, request_data, django_capture_on_commit_callbacks):  # noqa: F811
    """Book through the public form with any fields overridden; returns the appointment."""

    def book(**fields):
        with django_capture_on_commit_callbacks(execute=True):
            response = client.post(BOOK, request_data(**fields))
        return booked_once(response)

    return book
