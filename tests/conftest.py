"""Fixtures shared by every test.

A test that commits (transaction=True, or the live server of the browser tests) also sets
serialized_rollback=True. Emptying the tables after it then leaves the rows the
migrations made (content types, permissions, the staff groups) to be restored as they
were; without it Django recreates content types with other ids, and the next test that
restores them (tests/test_backup_restore.py) fails on a duplicate.
"""

from datetime import time, timedelta

import pytest
from django.core.cache import caches
from django.core.management import call_command
from django.db.models import F
from django.utils import timezone

from booking.models import Appointment, Clinic, Concern, Practitioner, Service, WorkingHours

# What Ada types into the request form (the contract's fields, but for her choice of time).
ADA_TYPES = {
    "first_name": "Ada",
    "last_name": "Lovelace",
    "email": "ada@example.com",
    "phone": "(212) 555-0123",
    "is_new_patient": "True",
    "concern": "sciatica",
    "message": "Worse in the mornings.",
    "consent": "on",
    "website": "",
}


def numbered_appointment(i, *, service, practitioner, start, status="confirmed"):
    """The i-th of many appointments written at once with bulk_create, each its own patient."""
    return Appointment(
        service=service,
        practitioner=practitioner,
        start=start,
        end=start + service.duration,
        status=status,
        first_name="Ada",
        last_name=f"Patient {i}",
        email=f"patient{i}@example.com",
        phone="+12125550123",
    )


@pytest.fixture(scope="session", autouse=True)
def _collected_static_files():
    """Serve hashed, compressed static files as production does, so a missing one fails."""
    call_command("collectstatic", interactive=False, verbosity=0)


@pytest.fixture(autouse=True)
def _clear_cache():
    """Each test starts with empty caches, as its database starts empty."""
    for cache in caches.all():
        cache.clear()
    yield
    for cache in caches.all():
        cache.clear()


@pytest.fixture
def move_into_the_past():
    """`move_into_the_past(appointment)`: whole weeks earlier, so that its time has come.

    Only then may staff mark it completed or a no-show. Whole weeks keep its weekday and
    hour, and two appointments of one day moved together stay apart.
    """

    def move(appointment):
        shift = timedelta(weeks=(appointment.start - timezone.now()) // timedelta(weeks=1) + 1)
        Appointment.objects.filter(pk=appointment.pk).update(
            start=F("start") - shift, end=F("end") - shift
        )
        appointment.refresh_from_db()

    return move


@pytest.fixture
def clinic(db):
    clinic = Clinic(
        name="Test Clinic",
        street_address="1 Test Road",
        locality="Testville",
        region="NY",
        postal_code="00000",
        phone="(212) 555-0100",
        email="clinic@example.com",
        opening_hours_text="Mon–Fri 9–5",
    )
    clinic.save()
    return clinic


@pytest.fixture
def service(db):
    return Service.objects.create(
        name="Initial consultation and treatment",
        slug="initial-consultation",
        duration_minutes=75,
        price="120.00",
    )


@pytest.fixture
def short_service(db):
    return Service.objects.create(name="Phone chat", slug="phone-chat", duration_minutes=15)


def _practitioner(name, slug):
    practitioner = Practitioner.objects.create(name=name, slug=slug)
    # Monday to Friday 9:00-17:00, Saturday 9:00-13:00, clinic time.
    hours = [(day, time(9), time(17)) for day in range(5)] + [(5, time(9), time(13))]
    WorkingHours.objects.bulk_create(
        WorkingHours(practitioner=practitioner, weekday=day, start_time=start, end_time=end)
        for day, start, end in hours
    )
    return practitioner


@pytest.fixture
def practitioner(clinic):
    return _practitioner("Maya Chen, L.Ac.", "maya-chen")


@pytest.fixture
def other_practitioner(clinic):
    return _practitioner("Samuel Okafor, L.Ac.", "samuel-okafor")


@pytest.fixture
def make_appointment(service, practitioner):
    """Book an appointment (through Appointment.book, as the site does)."""

    def make(start, *, practitioner=practitioner, service=service, **fields):
        values = {
            "first_name": "Ada",
            "last_name": "Lovelace",
            "email": "ada@example.com",
            "phone": "+12125550123",
            "concern": Concern.SCIATICA,
        }
        values.update(fields)
        return Appointment(service=service, practitioner=practitioner, start=start, **values).book()

    return make


@pytest.fixture
def published_article(db):
    """A published article a patient may book from."""
    from articles.models import Article

    return Article.objects.create(
        title="Acupuncture for sciatica",
        slug="acupuncture-for-sciatica",
        summary="What the research says.",
        body="Thin needles.",
        concern="sciatica",
        author_name="Maya Chen",
        reviewer_name="Dr. Reviewer",
        reviewed_on=timezone.localdate(),
        status=Article.Status.PUBLISHED,
        publish_at=timezone.now() - timedelta(days=1),
    )
