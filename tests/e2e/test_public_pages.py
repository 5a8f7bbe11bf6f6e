"""Public pages in a real browser: no console errors, no sideways scrolling, accessible."""

import pytest
from django.urls import reverse

from tests.e2e.conftest import (
    DESKTOP,
    PHONE,
    _new_page,
    axe_violations,
    screenshot,
    scroll_width_at,
)


def test_home_page_on_a_phone(phone_page, live_server, demo):
    page = phone_page
    page.goto(live_server.url + "/")
    screenshot(page, "home")
    assert page.get_by_role("heading", level=1).inner_text() == "Acupuncture for back pain"
    assert page.get_by_role("link", name="Book a consultation").first.is_visible()
    # A patient in pain may rather call: the number is one tap away, menu closed.
    call = page.get_by_role("link", name="Call (212) 555-0142").first
    assert call.is_visible()
    assert call.get_attribute("href") == "tel:(212)555-0142"
    assert page.watch.problems == []
    assert scroll_width_at(page, 320) <= 320
    assert axe_violations(page) == []


def test_404_page_is_friendly_in_a_browser(desktop_page, live_server, demo):
    page = desktop_page
    response = page.goto(live_server.url + "/no-such-page/")
    assert response.status == 404
    screenshot(page, "not-found")
    assert "couldn't find that page" in page.inner_text("h1")
    # The browser reports the page's own 404 on the console; nothing else may fail.
    assert [p for p in page.watch.problems if "status of 404" not in p] == []
    assert axe_violations(page) == []


def _public_paths(appointment):
    from articles.models import Article, Topic

    article = Article.objects.published().first()
    return {
        "home": "/",
        "articles": reverse("articles:list"),
        "article-search": reverse("articles:list") + "?q=needle",
        "topic": Topic.objects.first().get_absolute_url(),
        "article": article.get_absolute_url(),
        "book": reverse("booking:request"),
        "book-for-a-day": article.booking_url() + "&practitioner=samuel-okafor",
        "received": reverse("booking:received"),
        "request": appointment.patient_url,
        "request-cancel": reverse("booking:request-cancel", args=[appointment.token]),
    }


PAGES = [
    "home",
    "articles",
    "article-search",
    "topic",
    "article",
    "book",
    "book-for-a-day",
    "received",
    "request",
    "request-cancel",
]


@pytest.mark.parametrize("name", PAGES)
def test_public_page_fits_a_small_phone_and_loads_cleanly(
    browser, live_server, booked_request, name
):
    path = _public_paths(booked_request)[name]
    for viewport in (PHONE, DESKTOP):
        context, page = _new_page(browser, viewport)
        try:
            response = page.goto(live_server.url + path)
            assert response.status == 200
            screenshot(page, name)
            # The site's own scripts and styles all load, and the CSP blocks none of them.
            assert page.watch.problems == [], name
            if viewport is PHONE:
                assert scroll_width_at(page, 320) <= 320, f"{name} scrolls sideways at 320 px"
        finally:
            context.close()
