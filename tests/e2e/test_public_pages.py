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


def test_a_printed_article_leaves_out_the_site_around_it(desktop_page, live_server, demo):
    from articles.models import Article

    page = desktop_page
    article = Article.objects.published().first()
    page.goto(live_server.url + article.get_absolute_url())
    page.emulate_media(media="print")
    shown = page.evaluate(
        "sel => [...document.querySelectorAll(sel)].map(e => getComputedStyle(e).display)",
        ".site-header, .site-footer, .skip-link",
    )
    assert shown == ["none", "none", "none"]
    assert page.get_by_role("heading", level=1).inner_text() == article.title


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


@pytest.mark.parametrize(
    ("name", "width"), [("book", 390), ("article", 390), ("home", 320), ("home", 768)]
)
def test_very_large_text_wraps_inside_the_screen(phone_page, live_server, demo, name, width):
    """With the browser's text at 200% (Chrome's "Very large"), every choice, day and topic,
    the header, the page's buttons and the footer's address wrap inside the screen, from the
    smallest phone to a tablet: no sideways scrolling, no word cut off at a box's edge."""
    from django.db.models.functions import Length

    from articles.models import Article

    # The article with the longest topic name: its chip is the widest.
    article = (
        Article.objects.published().order_by(Length("topics__name").desc(nulls_last=True)).first()
    )
    path = {
        "home": "/",
        "book": reverse("booking:request"),
        "article": article.get_absolute_url(),
    }[name]
    page = phone_page
    page.set_viewport_size({"width": width, "height": PHONE["height"]})
    page.goto(live_server.url + path)
    page.evaluate("document.documentElement.style.fontSize = '200%'")
    screenshot(page, f"{name}-very-large-text")
    scroll_width, window_width = page.evaluate(
        "[document.documentElement.scrollWidth, window.innerWidth]"
    )
    assert scroll_width <= window_width, f"{name} scrolls sideways at {width} px"
    cut_off = page.evaluate(
        """() => [...document.querySelectorAll('.choice, .day, .slot, .article-topics a, .btn')]
          .filter(box => box.scrollWidth > box.clientWidth)
          .map(box => box.textContent.replace(/\\s+/g, ' ').trim())"""
    )
    assert cut_off == []


def test_very_large_text_wraps_the_times_offered_for_a_taken_one(
    no_js_phone_page, live_server, demo, quick_hands
):
    """The nearest open times, each with its day, also wrap inside the screen."""
    from datetime import datetime

    from booking.models import Appointment, Concern, Practitioner, Service
    from tests.e2e.test_booking_flows import start_a_request

    page = no_js_phone_page
    start_a_request(page, live_server.url + reverse("booking:request") + "?practitioner=maya-chen")
    # Someone else takes the time while this patient types.
    Appointment(
        service=Service.objects.active().first(),
        practitioner=Practitioner.objects.get(slug="maya-chen"),
        start=datetime.fromisoformat(page.locator("input[name=slot]:checked").input_value()),
        first_name="Ada",
        last_name="Lovelace",
        email="ada@example.com",
        phone="+12125550199",
        concern=Concern.SCIATICA,
    ).book()
    page.get_by_role("button", name="Send my request").click()
    assert page.locator(".slot-grid-dated .slot").count() > 0

    page.evaluate("document.documentElement.style.fontSize = '200%'")
    screenshot(page, "book-time-taken-very-large-text")
    scroll_width, window_width = page.evaluate(
        "[document.documentElement.scrollWidth, window.innerWidth]"
    )
    assert scroll_width <= window_width
