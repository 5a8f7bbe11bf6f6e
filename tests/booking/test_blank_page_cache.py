"""The blank booking page is stored once and each visitor gets their own tokens in it.

The page is the same for everyone but for the CSRF token and the signed form token, so it
is rendered once per choice (treatment, practitioner, day) and state of the clinic's data,
and each visitor's tokens are put into the stored copy (booking/views.py).
"""

import time
from datetime import datetime, timedelta

import pytest
from django.conf import settings
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from booking.models import Appointment, Clinic
from booking.views import CSRF_STAND_IN, FORM_TOKEN_STAND_IN
from clinic.pagecache import cache as page_cache
from tests.booking.conftest import local, page
from tests.conftest import ADA_TYPES

FORM = reverse("booking:request")


def visitor():
    """A browser of its own: its own cookies, and CSRF checked as in production."""
    return Client(enforce_csrf_checks=True)


def tokens(response):
    fields = page(response).fields
    return fields["csrfmiddlewaretoken"], fields["form_token"]


def filled(response, slot, **fields):
    """What a patient sends from the page they were given, choosing `slot`."""
    return {
        **page(response).fields,
        **ADA_TYPES,
        "slot": slot.isoformat(),
        **fields,
    }


def test_each_visitor_gets_their_own_tokens_and_can_book_with_them(
    service, practitioner, monday, seconds_pass, django_assert_num_queries
):
    choice = {"service": service.slug, "practitioner": practitioner.slug, "day": monday}
    first, second = visitor(), visitor()
    first_page = first.get(FORM, choice)
    with django_assert_num_queries(0):
        second_page = second.get(FORM, choice)
    assert second_page.templates == []  # the stored copy, not rendered again

    assert tokens(first_page)[0] != tokens(second_page)[0]
    assert tokens(first_page)[1] != tokens(second_page)[1]
    for response in (first_page, second_page):
        html = response.content.decode()
        assert CSRF_STAND_IN not in html
        assert FORM_TOKEN_STAND_IN not in html
        assert response.cookies[settings.CSRF_COOKIE_NAME].value
        assert response["Cache-Control"].startswith("max-age=0")

    seconds_pass(10)
    booked = second.post(FORM, filled(second_page, local(monday, 9)))
    assert booked.status_code == 302
    other = first.post(FORM, filled(first_page, local(monday, 11), email="bo@example.com"))
    assert other.status_code == 302
    assert Appointment.objects.count() == 2


def test_a_token_from_another_visitors_page_is_refused(service, monday, seconds_pass):
    first, second = visitor(), visitor()
    first_page = first.get(FORM, {"service": service.slug, "day": monday})
    second.get(FORM, {"service": service.slug, "day": monday})  # second has its own cookie
    seconds_pass(10)
    response = second.post(FORM, filled(first_page, local(monday, 9)))
    assert response.status_code == 403
    assert not Appointment.objects.exists()


def test_a_time_booked_meanwhile_leaves_the_stored_page_at_once(
    client, service, practitioner, monday, make_appointment
):
    choice = {"service": service.slug, "practitioner": practitioner.slug, "day": monday}
    assert local(monday, 9).isoformat() in page(client.get(FORM, choice)).options["slot"]
    make_appointment(local(monday, 9))
    assert local(monday, 9).isoformat() not in page(client.get(FORM, choice)).options["slot"]


def test_the_clinics_new_phone_number_shows_on_the_stored_page_at_once(client, service):
    client.get(FORM)
    clinic = Clinic.load()
    clinic.phone = "(212) 555-0199"
    clinic.save()
    assert "(212) 555-0199" in client.get(FORM).content.decode()


@pytest.mark.parametrize(
    ("source", "stored"), [("acupuncture-for-sciatica", True), ("made-up", False)]
)
def test_only_links_from_published_articles_are_stored(
    client, service, published_article, source, stored
):
    address = f"{FORM}?concern=sciatica&from={source}"
    first = client.get(address)
    assert page(first).fields["source_article"] == source
    again = client.get(address)
    assert page(again).fields["source_article"] == source
    # Anyone can make up links: those are rendered each time, never stored.
    rendered = [template.name for template in again.templates]
    assert ("booking/request_form.html" in rendered) is not stored


def test_a_time_that_falls_inside_the_notice_leaves_the_stored_page(
    client, service, practitioner, monkeypatch
):
    first = page(client.get(FORM)).options["slot"][0]
    # A notice that ends 2.5 seconds before the first open time (hours in the admin).
    notice = datetime.fromisoformat(first) - timezone.now() - timedelta(seconds=2.5)
    monkeypatch.setattr(Clinic, "minimum_notice", property(lambda clinic: notice))
    page_cache.clear()
    assert page(client.get(FORM)).options["slot"][0] == first
    stored = client.get(FORM)
    assert stored.templates == []
    assert page(stored).options["slot"][0] == first

    time.sleep(4)  # open times are cut to the whole second
    assert first not in page(client.get(FORM)).options["slot"]


def test_after_a_new_secret_key_no_page_stored_with_the_old_stand_ins_is_served(
    client, service, monkeypatch
):
    from booking import views

    old_csrf = views.CSRF_STAND_IN
    client.get(FORM)  # stored, with the stand-ins of the old key
    # A process started with a new secret key (a deploy), sharing the cache (Redis).
    monkeypatch.setattr(views, "_STAND_IN_SEED", "0" * 64)
    monkeypatch.setattr(views, "CSRF_STAND_IN", "csrf" + "1" * 24)
    monkeypatch.setattr(views, "FORM_TOKEN_STAND_IN", "form" + "2" * 24)
    response = client.get(FORM)
    html = response.content.decode()
    assert old_csrf not in html
    token = tokens(response)[0]
    assert len(token) == 64 and token not in (old_csrf, views.CSRF_STAND_IN)


@pytest.fixture
def stored_pages(monkeypatch):
    """What the view puts into the pages cache, by key."""
    stored = {}
    set_in_cache = page_cache.set

    def remember(key, value, *args, **kwargs):
        stored[key] = value
        return set_in_cache(key, value, *args, **kwargs)

    monkeypatch.setattr(page_cache, "set", remember)
    return stored


def test_a_stored_page_takes_a_fraction_of_its_size_in_the_cache(
    client, service, practitioner, monday, stored_pages
):
    """Each worker's local cache holds up to a hundred of them: a page kept as its HTML
    was about 20 KB of memory, mostly the same buttons over and over."""
    choice = {"service": service.slug, "practitioner": practitioner.slug, "day": monday}
    first = client.get(FORM, choice)
    (value,) = (value for key, value in stored_pages.items() if "blank-page" in key)
    assert len(value) < len(first.content) / 3
    second = client.get(FORM, choice)
    assert second.templates == []  # served from what was stored
    assert page(second).options["slot"] == page(first).options["slot"] != []
    assert second.content.decode().count(service.name) == first.content.decode().count(service.name)


def test_a_page_stored_by_the_version_before_is_not_read_as_compressed(
    client, service, stored_pages
):
    """A cache shared across a deploy (Redis) still holds pages stored as plain HTML."""
    client.get(FORM, {"service": service.slug})
    (key,) = (key for key in stored_pages if "blank-page" in key)
    page_cache.clear()
    page_cache.set(key.replace("blank-page-zlib", "blank-page"), "<p>an old page</p>", 60)
    response = client.get(FORM, {"service": service.slug})
    assert response.status_code == 200
    assert b"an old page" not in response.content
