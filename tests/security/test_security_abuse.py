"""Floods and dodges: the limits hold however an attacker varies what they send.

tests/booking/test_spam_and_limits.py has the limits themselves (5 an hour per address,
3 a day per email), the honeypot and the fill time; these try to get around them.
"""

import os
import re
from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.core.cache import caches
from django.test import Client
from django.urls import reverse

import booking.throttle
import booking.views
from booking.models import Appointment
from tests.booking.conftest import local, page
from tests.security.conftest import BOOK, nothing_stored_or_sent


def slot(monday, n):
    """The n-th distinct open time: a different day or hour for each request."""
    return local(monday + timedelta(days=n // 4), 9 + 2 * (n % 4)).isoformat()


def test_plus_addresses_count_as_one_mailbox(client, request_data, monday, settings):
    # ada+1@, ada+2@ ... all land in Ada's inbox: the clinic must not send it a fourth.
    settings.CLINIC_BOOKING_RATE = "100/h"
    emails = ["ada@example.com", "ada+1@example.com", "Ada+back@Example.com", "ada+x@example.com"]
    statuses = [
        client.post(BOOK, request_data(slot=slot(monday, n), email=email)).status_code
        for n, email in enumerate(emails)
    ]
    assert statuses == [302, 302, 302, 429]
    assert Appointment.objects.count() == 3


def test_a_forged_forwarded_for_header_does_not_dodge_the_address_limit(
    client, request_data, monday, settings
):
    # Without a proxy in front (the default), the header is the client's own invention.
    assert settings.PROXY_COUNT == 0
    settings.CLINIC_BOOKING_RATE = "2/h"
    statuses = [
        client.post(
            BOOK,
            request_data(slot=slot(monday, n), email=f"p{n}@example.com"),
            HTTP_X_FORWARDED_FOR=f"198.51.100.{n}",
            HTTP_X_REAL_IP=f"198.51.100.{n}",
        ).status_code
        for n in range(3)
    ]
    assert statuses == [302, 302, 429]


@pytest.fixture
def behind_nginx(settings):
    """One nginx in front: it appends the address it saw to X-Forwarded-For."""
    settings.PROXY_COUNT = 1
    settings.CLINIC_BOOKING_RATE = "2/h"

    def sent(client_address, forged=None):
        header = f"{forged}, {client_address}" if forged else client_address
        return {"HTTP_X_FORWARDED_FOR": header, "REMOTE_ADDR": "127.0.0.1"}

    return sent


def test_behind_nginx_each_patient_has_their_own_limit(client, request_data, monday, behind_nginx):
    # Everyone arrives from nginx's address; the patients' own addresses must count.
    statuses = [
        client.post(
            BOOK,
            request_data(slot=slot(monday, n), email=f"p{n}@example.com"),
            **behind_nginx(f"203.0.113.{n}"),
        ).status_code
        for n in range(5)
    ]
    assert statuses == [302] * 5


def test_behind_nginx_a_forged_forwarded_for_does_not_dodge_the_limit(
    client, request_data, monday, behind_nginx
):
    statuses = [
        client.post(
            BOOK,
            request_data(slot=slot(monday, n), email=f"p{n}@example.com"),
            **behind_nginx("203.0.113.7", forged=f"198.51.100.{n}"),
        ).status_code
        for n in range(3)
    ]
    assert statuses == [302, 302, 429]


@pytest.fixture
def owner(db, settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    return User.objects.create_superuser("owner", "owner@example.com", "correct-horse-battery")


def test_behind_nginx_a_forged_forwarded_for_does_not_dodge_the_sign_in_lockout(
    owner, behind_nginx
):
    login = reverse("admin:login")
    for n in range(5):
        Client().post(
            login,
            {"username": "owner", "password": f"guess-{n}"},
            **behind_nginx("203.0.113.7", forged=f"198.51.100.{n}"),
        )
    # The right password, from the same attacker with yet another forged address: locked.
    response = Client().post(
        login,
        {"username": "owner", "password": "correct-horse-battery"},
        **behind_nginx("203.0.113.7", forged="198.51.100.99"),
    )
    assert response.status_code == 429
    # Staff elsewhere still get in.
    response = Client().post(
        login,
        {"username": "owner", "password": "correct-horse-battery"},
        **behind_nginx("192.0.2.20"),
    )
    assert response.status_code == 302


@pytest.mark.skipif(not os.environ.get("REDIS_URL"), reason="needs REDIS_URL: a shared cache")
def test_the_limits_are_counted_in_the_cache_every_server_shares(
    client, request_data, monday, settings, monkeypatch
):
    settings.CLINIC_BOOKING_RATE = "1/h"
    assert client.post(BOOK, request_data(slot=slot(monday, 0))).status_code == 302
    # Another app server: its own connection to the same Redis.
    other = caches.create_connection("default")
    assert other is not caches["default"]
    monkeypatch.setattr(booking.throttle, "cache", other)
    monkeypatch.setattr(booking.views, "cache", other)
    data = request_data(slot=slot(monday, 1), email="grace@example.com")
    assert client.post(BOOK, data).status_code == 429


def test_the_honeypot_answers_like_a_success_even_for_a_broken_form(client, request_data):
    response = client.post(BOOK, request_data(website="spam", email="not-an-email", slot=""))
    assert response.status_code == 302
    assert response.url == reverse("booking:received")
    assert nothing_stored_or_sent()


@pytest.mark.parametrize("website", ["0", "http://x", "a" * 10_000, "\u200b x"])
def test_anything_in_the_honeypot_is_a_bot(client, request_data, website):
    response = client.post(BOOK, request_data(website=website))
    assert response.url == reverse("booking:received")
    assert nothing_stored_or_sent()


def test_a_honeypot_of_spaces_from_an_autofill_is_not_a_bot(client, request_data):
    assert client.post(BOOK, request_data(website="   ")).status_code == 302
    assert Appointment.objects.count() == 1


def test_a_flood_of_fast_bots_is_stored_nowhere_and_counts_against_the_address(
    client, request_data, monday, settings
):
    settings.CLINIC_BOOKING_RATE = "3/h"
    form = page(client.get(BOOK))
    for n in range(5):
        data = request_data(slot=slot(monday, n), form_token=form.fields["form_token"])
        assert client.post(BOOK, data).url == reverse("booking:received")
    assert nothing_stored_or_sent()
    # The same address, now a real person: the bots used up its allowance.
    assert client.post(BOOK, request_data(slot=slot(monday, 6))).status_code == 429


def test_one_served_form_makes_at_most_one_appointment(client, request_data, monday):
    token = request_data()["form_token"]
    urls = {
        client.post(
            BOOK, request_data(slot=slot(monday, n), email=f"p{n}@example.com", form_token=token)
        ).url
        for n in range(4)
    }
    assert Appointment.objects.count() == 1
    assert urls == {Appointment.objects.get().patient_url}


def test_known_and_unknown_emails_get_the_same_pages(
    client, request_data, monday, make_appointment
):
    make_appointment(local(monday, 15), email="known@example.com")
    pages = []
    for n, email in enumerate(["known@example.com", "stranger@example.com"]):
        response = client.post(BOOK, request_data(slot=slot(monday, n), email=email))
        html = client.get(response.url).content.decode()
        appointment = Appointment.objects.get(email=email, start=slot(monday, n))
        html = html.replace(appointment.reference, "REF").replace(appointment.token, "T")
        html = re.sub(r"cancel online until [^;]*;", "cancel online until WHEN;", html)
        pages.append(re.sub(r'name="csrfmiddlewaretoken" value="[^"]*"', "", html))
    # Only the time (and so the last moment to cancel online) differs between the two pages.
    known, unknown = (p.split('id="next-heading"')[1] for p in pages)
    assert known == unknown


@pytest.mark.parametrize(
    ("meta", "address"),
    [
        ({"REMOTE_ADDR": "203.0.113.7"}, "203.0.113.7"),
        ({"REMOTE_ADDR": "203.0.113.7", "HTTP_X_FORWARDED_FOR": "198.51.100.1"}, "203.0.113.7"),
        ({}, None),  # no socket address (a test, a unix socket): stored as unknown, not "x"
        ({"REMOTE_ADDR": "not an address"}, None),
    ],
)
def test_the_client_address_is_an_address_or_none(rf, meta, address):
    request = rf.get("/")
    request.META.pop("REMOTE_ADDR")
    request.META.update(meta)
    assert booking.throttle.client_address(request) == address


def test_behind_nginx_a_missing_header_falls_back_to_the_socket(rf, settings):
    settings.PROXY_COUNT = 1
    request = rf.get("/", REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR="garbage")
    assert booking.throttle.client_address(request) == "127.0.0.1"
