"""Return addresses only lead back to our own site; a forged Host is refused and never reaches
an email or a link."""

import pytest
from django.contrib.auth.models import User
from django.core import mail
from django.test import Client
from django.urls import NoReverseMatch, reverse
from django.utils.http import url_has_allowed_host_and_scheme

from booking.models import Appointment
from tests.security.conftest import BOOK, nothing_stored_or_sent

PASSWORD = "correct-horse-battery-staple"
ELSEWHERE = [
    "https://evil.example/",
    "//evil.example/",
    "///evil.example/",
    "/\\evil.example/",
    "\\\\evil.example",
    "https:evil.example",
    "javascript:alert(1)",
    " //evil.example",
    "\t//evil.example",
    "http://testserver@evil.example/",
    "https://testserver.evil.example/",
    "/%09/evil.example",
    "%2F%2Fevil.example",
]


def ours(location):
    return url_has_allowed_host_and_scheme(location, allowed_hosts={"testserver"})


@pytest.fixture
def owner(db, settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    return User.objects.create_superuser("owner", "owner@example.com", PASSWORD)


@pytest.mark.parametrize("target", ELSEWHERE)
def test_signing_in_never_sends_staff_to_another_site(owner, target):
    login = reverse("admin:login")
    response = Client().post(f"{login}?next={target}", {"username": "owner", "password": PASSWORD})
    assert response.status_code == 302
    assert ours(response["Location"]), response["Location"]
    response = Client().post(login, {"username": "owner", "password": PASSWORD, "next": target})
    assert response.status_code == 302
    assert ours(response["Location"]), response["Location"]


@pytest.mark.parametrize("target", ELSEWHERE)
def test_a_signed_in_visit_to_the_sign_in_page_stays_here(owner, target):
    client = Client()
    client.force_login(owner)
    response = client.get(reverse("admin:login"), {"next": target})
    assert response.status_code == 302
    assert ours(response["Location"]), response["Location"]


@pytest.mark.parametrize("target", ELSEWHERE[:6])
def test_signing_out_never_sends_staff_to_another_site(owner, target):
    client = Client()
    client.force_login(owner)
    response = client.post(reverse("admin:logout") + f"?next={target}")
    assert response.status_code in (200, 302)
    if response.status_code == 302:
        assert ours(response["Location"]), response["Location"]


def test_saving_an_appointment_returns_to_our_own_list(admin_client, request_at, form_of):
    # The admin carries the list's filters through the change form as _changelist_filters.
    appointment = request_at(10)
    url = reverse("admin:booking_appointment_change", args=[appointment.pk])
    query = "?_changelist_filters=%2F%2Fevil.example%2F"
    data = {**form_of(admin_client.get(url + query)), "staff_notes": "Called back."}
    response = admin_client.post(url + query, data)
    assert response.status_code == 302
    assert ours(response["Location"]), response["Location"]
    assert response["Location"].startswith(reverse("admin:booking_appointment_changelist"))
    appointment.refresh_from_db()
    assert appointment.staff_notes == "Called back."


def test_no_view_takes_a_password_reset_that_would_trust_the_host():
    # Django's password reset builds its link from the request's Host; it is not offered.
    with pytest.raises(NoReverseMatch):
        reverse("admin:password_reset")
    assert Client().get("/admin/password_reset/").status_code in (302, 404)


@pytest.mark.parametrize(
    "url", ["/", "/book/", "/articles/", "/admin/login/", "/healthz", "/robots.txt", "/book/times/"]
)
@pytest.mark.parametrize(
    "host", ["evil.example", "testserver.evil.example", "testserver:80@evil.example", "", "[::2]"]
)
def test_an_unknown_host_is_refused(client, clinic, url, host):
    assert client.get(url, HTTP_HOST=host).status_code == 400


def test_a_booking_sent_with_a_forged_host_stores_nothing(client, request_data):
    response = client.post(BOOK, request_data(), HTTP_HOST="evil.example")
    assert response.status_code == 400
    assert nothing_stored_or_sent()
    page = response.content.decode()
    assert "we could not read that request" in page
    assert "nothing was saved" in page
    assert "evil.example" not in page


def test_email_links_use_the_configured_site_whatever_the_request_said(
    client, request_data, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            BOOK,
            request_data(),
            HTTP_HOST="localhost",
            HTTP_X_FORWARDED_HOST="evil.example",
            HTTP_X_FORWARDED_PROTO="http",
            HTTP_FORWARDED="host=evil.example",
        )
    assert response.status_code == 302
    appointment = Appointment.objects.get()
    assert len(mail.outbox) == 2
    for message in mail.outbox:
        html = next(body for body, kind in message.alternatives if kind == "text/html")
        for body in (message.body, html):
            assert "https://clinic.test/" in body
            assert "evil.example" not in body
            assert "localhost/" not in body and "testserver" not in body
    patient = next(m for m in mail.outbox if m.to == [appointment.email])
    assert f"https://clinic.test{appointment.patient_url}" in patient.body


def test_the_forwarded_host_header_is_not_trusted(settings):
    assert settings.USE_X_FORWARDED_HOST is False
    assert settings.USE_X_FORWARDED_PORT is False
