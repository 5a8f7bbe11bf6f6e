"""Public pages in a real browser: no console errors, no sideways scrolling, accessible."""

import pytest

from tests.e2e.conftest import axe_violations, screenshot, scroll_width_at


@pytest.fixture
def demo(transactional_db):
    from django.core.management import call_command

    call_command("seed_demo", "--no-admin", verbosity=0)


def test_home_page_on_a_phone(phone_page, live_server, demo):
    page = phone_page
    page.goto(live_server.url + "/")
    screenshot(page, "home")
    assert page.get_by_role("heading", level=1).inner_text() == "Acupuncture for back pain"
    assert page.get_by_role("link", name="Book a consultation").first.is_visible()
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
