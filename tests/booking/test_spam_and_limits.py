"""Bots and floods: the honeypot, the minimum fill time, and the rate limits."""

import logging
from datetime import timedelta

import pytest
from django.core.cache import cache
from django.test import Client
from django.urls import reverse

from booking.forms import issue_form_token
from booking.models import Appointment, OutgoingEmail
from booking.throttle import Limit, parse_rate
from clinic.pagecache import cache as page_cache
from tests.booking.conftest import local, page

BOOK = "/book/"


def nothing_stored():
    return Appointment.objects.count() == 0 and OutgoingEmail.objects.count() == 0


def test_filled_honeypot_is_answered_like_a_success_and_stored_nowhere(client, request_data):
    response = client.post(BOOK, request_data(website="https://spam.example"))
    assert response.status_code == 302
    assert response.url == reverse("booking:received")
    assert "Thank you" in client.get(response.url).content.decode()
    assert nothing_stored()


def test_a_form_sent_within_three_seconds_is_answered_like_a_success(
    client, request_data, seconds_pass
):
    form = page(client.get(BOOK))
    seconds_pass(2)
    response = client.post(BOOK, request_data(form_token=form.fields["form_token"]))
    assert response.status_code == 302
    assert response.url == reverse("booking:received")
    assert nothing_stored()


def test_an_incomplete_form_sent_fast_shows_what_is_missing(client, request_data, seconds_pass):
    form = page(client.get(BOOK))
    seconds_pass(1)
    response = client.post(BOOK, request_data(form_token=form.fields["form_token"], email=""))
    assert response.status_code == 200
    assert "Enter your email address." in response.content.decode()
    assert nothing_stored()


def test_a_form_sent_after_three_seconds_is_booked(client, request_data, seconds_pass):
    form = page(client.get(BOOK))
    seconds_pass(3.5)
    response = client.post(BOOK, request_data(form_token=form.fields["form_token"]))
    assert response.status_code == 302
    assert Appointment.objects.count() == 1


@pytest.mark.parametrize("token", ["", "forged-token", issue_form_token()[:-3] + "abc"])
def test_a_form_without_our_token_is_refused_visibly(client, request_data, token):
    response = client.post(BOOK, request_data(form_token=token))
    html = response.content.decode()
    assert response.status_code == 200
    assert "This form had expired. Please check your choices and send it again." in html
    assert nothing_stored()
    # A fresh token comes with the page, so sending it again works.
    assert page(response).fields["form_token"] != token


def test_an_expired_form_sent_again_at_once_is_booked(client, request_data, seconds_pass):
    # Shown again with all it had (the time still ticked), it only needs "Send" again: its
    # new token must not count as a form just served, or the request would be dropped.
    shown = page(client.post(BOOK, request_data(form_token="forged-token")))
    seconds_pass(1)
    response = client.post(BOOK, dict(shown.fields))
    assert response.status_code == 302
    assert response.url != reverse("booking:received")
    assert Appointment.objects.count() == 1


def test_requests_from_one_address_are_limited(client, request_data, monday, settings):
    settings.CLINIC_BOOKING_RATE = "3/h"
    for hour in (9, 11, 13):
        data = request_data(slot=local(monday, hour).isoformat(), email=f"p{hour}@example.com")
        assert client.post(BOOK, data).status_code == 302
    data = request_data(slot=local(monday, 15).isoformat(), email="p15@example.com")
    response = client.post(BOOK, data)
    assert response.status_code == 429
    wait = int(response["Retry-After"])
    assert wait > 0
    html = response.content.decode()
    assert "Please wait a little before sending another request" in html
    minutes = -(-wait // 60)
    assert f"You can send another in about {minutes} minute{'s' if minutes != 1 else ''}." in html
    assert "(212) 555-0100" in html
    assert Appointment.objects.count() == 3
    # Another address is not held back.
    response = client.post(BOOK, data, REMOTE_ADDR="203.0.113.9")
    assert response.status_code == 302


def test_the_address_limit_defaults_to_five_an_hour(client, request_data, monday, settings):
    assert settings.CLINIC_BOOKING_RATE == "5/h"
    statuses = [
        client.post(
            BOOK,
            request_data(
                slot=local(monday + timedelta(days=day), 10).isoformat(), email=f"{day}@x.org"
            ),
        ).status_code
        for day in range(6)
    ]
    assert statuses == [302] * 5 + [429]


def test_behind_a_proxy_each_client_address_counts_separately(client, request_data, settings):
    settings.CLINIC_BOOKING_RATE = "1/h"
    # A load balancer, then nginx: the client, then the balancer's address, in the header.
    settings.PROXY_COUNT = 2
    first = request_data(email="a@example.com")
    assert (
        client.post(BOOK, first, HTTP_X_FORWARDED_FOR="198.51.100.1, 10.0.0.2").status_code == 302
    )
    second = request_data(email="b@example.com", slot=first["slot"].replace("T10", "T13"))
    forwarded = "198.51.100.7, 10.0.0.2"
    assert client.post(BOOK, second, HTTP_X_FORWARDED_FOR=forwarded).status_code == 302
    third = request_data(email="c@example.com", slot=first["slot"].replace("T10", "T15"))
    assert client.post(BOOK, third, HTTP_X_FORWARDED_FOR=forwarded).status_code == 429


def test_the_addresses_of_one_ipv6_network_share_one_limit(client, request_data, monday, settings):
    # One device holds a whole /64 and can send from any address in it: one client.
    settings.CLINIC_BOOKING_RATE = "2/h"
    statuses = [
        client.post(
            BOOK,
            request_data(slot=local(monday, 9 + 2 * n).isoformat(), email=f"p{n}@example.com"),
            REMOTE_ADDR=f"2001:db8:1:2::{n + 1:x}",
        ).status_code
        for n in range(3)
    ]
    assert statuses == [302, 302, 429]
    # Another network is another client.
    data = request_data(slot=local(monday, 15).isoformat(), email="p9@example.com")
    assert client.post(BOOK, data, REMOTE_ADDR="2001:db8:1:3::1").status_code == 302


def test_no_number_of_pages_seen_pushes_a_limit_out_of_the_cache(client, request_data, settings):
    """Pages are kept in a cache of their own, which makes room by dropping old entries:
    a visitor asking for page after page must not drop the count of their requests."""
    settings.CLINIC_BOOKING_RATE = "1/h"
    first = request_data(email="a@example.com")
    assert client.post(BOOK, first).status_code == 302
    # As if the visitor had asked for a thousand different addresses: an entry each.
    for number in range(1000):
        page_cache.set(f"page-{number}", "<!doctype html>", 300)
    second = request_data(email="b@example.com", slot=first["slot"].replace("T10", "T13"))
    assert client.post(BOOK, second).status_code == 429
    assert Appointment.objects.count() == 1


def test_requests_for_one_email_are_limited_per_day(client, request_data, monday, settings):
    settings.CLINIC_BOOKING_RATE = "100/h"
    assert settings.CLINIC_BOOKING_EMAIL_RATE == "3/d"
    emails = ["ada@example.com", "Ada@Example.com", "ADA@example.com", "ada@example.com"]
    # From four devices: one browser sending the same patient's request again is shown
    # the request it sent (test_double_submit).
    statuses = [
        Client()
        .post(
            BOOK,
            request_data(slot=local(monday + timedelta(days=n), 10).isoformat(), email=email),
            REMOTE_ADDR=f"198.51.100.{n}",
        )
        .status_code
        for n, email in enumerate(emails)
    ]
    assert statuses == [302, 302, 302, 429]


def test_quoted_spellings_of_one_mailbox_share_its_limit(client, request_data, monday, settings):
    # "ada"@ and "a\da"@ are delivered to ada@: a new spelling is not a new inbox to flood.
    settings.CLINIC_BOOKING_RATE = "100/h"
    emails = [
        "ada@example.com",
        '"ada"@example.com',
        '"a\\da"@example.com',
        '"Ad\\a+x"@EXAMPLE.com',
    ]
    statuses = [
        client.post(
            BOOK, request_data(slot=local(monday + timedelta(days=n), 10).isoformat(), email=email)
        ).status_code
        for n, email in enumerate(emails)
    ]
    assert statuses == [302, 302, 302, 429]


def test_mistakes_do_not_count_against_the_limit(client, request_data, settings):
    settings.CLINIC_BOOKING_RATE = "1/h"
    for _ in range(4):
        assert client.post(BOOK, request_data(phone="nope")).status_code == 200
    assert client.post(BOOK, request_data()).status_code == 302


def test_the_answer_is_the_same_whether_or_not_the_email_has_booked(
    client, request_data, monday, make_appointment
):
    make_appointment(local(monday, 14), email="known@example.com")
    known = client.post(BOOK, request_data(email="known@example.com"))
    unknown = client.post(
        BOOK, request_data(email="new@example.com", slot=local(monday, 12).isoformat())
    )
    assert known.status_code == unknown.status_code == 302
    assert client.get(known.url).status_code == client.get(unknown.url).status_code == 200
    assert "already" not in client.get(known.url).content.decode()


def test_limits_keep_no_address_or_email_in_the_cache(client, request_data):
    client.post(BOOK, request_data(email="secret.patient@example.com"))
    if hasattr(cache._cache, "get_client"):  # Redis (REDIS_URL set)
        keys = [k.decode() for k in cache._cache.get_client().keys("*")]
    else:  # local memory
        keys = list(cache._cache.keys())
    assert keys
    assert not [k for k in keys if "secret.patient" in k or "127.0.0.1" in k]


@pytest.mark.parametrize(
    ("rate", "expected"),
    [("5/h", (5, 3600)), ("3/d", (3, 86400)), ("10/15m", (10, 900)), (" 2 / s ", (2, 1))],
)
def test_rates_are_read_from_settings_text(rate, expected):
    assert parse_rate(rate) == expected


def test_a_misconfigured_rate_is_reported():
    with pytest.raises(ValueError, match="Not a rate"):
        parse_rate("five an hour")


def test_a_limit_opens_again_in_the_next_window():
    limit = Limit("test", "2/h")
    assert limit.hit("x", now=3600 * 10) and limit.hit("x", now=3600 * 10 + 5)
    assert not limit.hit("x", now=3600 * 10 + 10)
    assert limit.hit("x", now=3600 * 11 + 1)


def test_booking_logs_no_personal_data(client, request_data, caplog):
    booking_logger = logging.getLogger("booking")  # it does not propagate to the root
    booking_logger.addHandler(caplog.handler)
    caplog.set_level(logging.DEBUG)
    try:
        client.post(BOOK, request_data(email="private.person@example.com", last_name="Privatesson"))
        client.post(BOOK, request_data(website="x", email="bot@example.com"))
        client.post(BOOK, request_data(phone="nope", email="typo@example.com"))
    finally:
        booking_logger.removeHandler(caplog.handler)
    logged = caplog.text
    assert Appointment.objects.get().reference in logged
    for private in ("private.person", "Privatesson", "5550123", "mornings", "bot@", "typo@"):
        assert private not in logged


# The patient's first name opens the email the site sends to whatever address is typed in:
# a bot could make it carry a link to anyone. A name never holds an address.
@pytest.mark.parametrize("field", ["first_name", "last_name"])
@pytest.mark.parametrize(
    "name",
    [
        "Win big at http://prizes.example",
        "www.cheap-pills.example",
        "cheap-pills.example",
        "claim at prize@winner.example",
        "prizes.example/claim",
        "Cheap-Pills.Com",  # a common top-level domain, in any case
        "WINNER.NET",
        "@SUM(1+1)*cmd|' /C calc'!A0",  # a spreadsheet formula, too
    ],
)
def test_a_name_holding_a_web_or_email_address_is_refused(client, request_data, field, name):
    response = client.post(BOOK, request_data(**{field: name}))
    assert response.status_code == 200
    assert "Enter your name only, without a web or email address." in response.content.decode()
    assert nothing_stored()


@pytest.mark.parametrize(
    ("first_name", "last_name"),
    [
        ("J.R.", "O'Neil-Smith"),
        ("Ana María", "St. John"),
        ("Nguyễn Thị", "Lan"),
        ("Jo", "D.C."),
        # A capital after the dot starts a name, not a domain.
        ("Mary", "St.John"),
        ("Luc", "Ste.Marie"),
    ],
)
def test_names_with_dots_and_marks_are_booked(client, request_data, first_name, last_name):
    response = client.post(BOOK, request_data(first_name=first_name, last_name=last_name))
    assert response.status_code == 302
    assert Appointment.objects.get().patient_name == f"{first_name} {last_name}"
