"""While the database is unreachable every page answers 503 with a friendly page, not 500."""

import time
from unittest import mock

import pytest
from django.db import InterfaceError, OperationalError
from django.db.backends.utils import CursorWrapper
from django.test import Client

from booking.forms import issue_form_token
from booking.models import Appointment, Clinic
from tests.booking.conftest import local, next_weekday

PAGES = ["/", "/articles/", "/book/", "/admin/login/", "/sitemap.xml"]


@pytest.fixture
def browser():
    # Like a real visitor: the answer the site gives, not the exception behind it.
    return Client(raise_request_exception=False)


def database_down(error=OperationalError):
    """Every query fails as it does while PostgreSQL restarts or refuses connections."""
    failure = error("connection to server at 127.0.0.1, port 5432 failed: Connection refused")
    return mock.patch.object(CursorWrapper, "_execute", side_effect=failure)


def assert_friendly_503(response):
    assert response.status_code == 503
    html = response.content.decode()
    assert "back in a moment" in html
    assert "try again shortly" in html
    assert "Traceback" not in html
    assert "5432" not in html  # nothing of the error behind it
    assert int(response["Retry-After"]) > 0
    assert "no-store" in response["Cache-Control"]


@pytest.mark.parametrize("path", PAGES)
def test_every_page_answers_503_with_a_friendly_page_while_the_database_is_down(
    browser, clinic, path
):
    with database_down():
        response = browser.get(path)
    assert_friendly_503(response)


def test_a_lost_connection_is_a_503_too(browser, clinic):
    with database_down(InterfaceError):
        response = browser.get("/")
    assert_friendly_503(response)


def test_a_booking_sent_while_the_database_is_down_is_a_503_and_stores_nothing(
    browser, service, practitioner
):
    data = {
        "service": service.slug,
        "practitioner": practitioner.slug,
        "slot": local(next_weekday(0), 10).isoformat(),
        "first_name": "Ada",
        "last_name": "Lovelace",
        "email": "ada@example.com",
        "phone": "(212) 555-0123",
        "concern": "sciatica",
        "consent": "on",
        "form_token": issue_form_token(time.time() - 10),
    }
    with database_down():
        response = browser.post("/book/", data)
    assert_friendly_503(response)
    assert "booked only once" in response.content.decode()
    assert not Appointment.objects.exists()


def test_a_staff_members_session_failing_to_load_is_a_503(browser, admin_client, clinic):
    browser.cookies = admin_client.cookies
    with database_down():
        response = browser.get("/admin/booking/appointment/")
    assert_friendly_503(response)


def test_the_site_answers_again_as_soon_as_the_database_does(browser, clinic):
    with database_down():
        assert browser.get("/").status_code == 503
    response = browser.get("/")
    assert response.status_code == 200
    assert "Test Clinic" in response.content.decode()


def test_the_503_page_makes_no_query_and_shows_the_phone_number_if_cached(
    clinic, rf, django_assert_num_queries
):
    from clinic.views import database_unavailable

    Clinic.load()  # cached, as it is on a site that has been serving pages
    with django_assert_num_queries(0):
        response = database_unavailable(rf.get("/"))
    assert response.status_code == 503
    assert "(212) 555-0100" in response.content.decode()


def test_other_errors_are_still_a_500(browser, clinic):
    with mock.patch("clinic.views.Service.objects.active", side_effect=RuntimeError("bug")):
        response = browser.get("/")
    assert response.status_code == 500
    assert "Sorry, something went wrong" in response.content.decode()
    assert "Retry-After" not in response
