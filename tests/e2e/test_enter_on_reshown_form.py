"""Enter on a form shown again sends the request.

On a form shown again (a mistake to fix) the treatment / practitioner / day choices are
submit buttons of the booking form (form="booking-form") that come before it in the page.
The first submit button in tree order is the form's default button, the one Enter (a
phone keyboard's "Go") presses: it must be the request's, not the first treatment's.
"""

import re
from datetime import datetime

import pytest
from playwright.sync_api import expect

from booking.models import Appointment, Service
from tests.e2e.conftest import PHONE, _new_page

CONSENT = re.compile("I agree that the clinic may keep")
REQUEST_PAGE = re.compile(r"/book/request/[^/]+/$")


@pytest.mark.parametrize("javascript", [True, False], ids=["with-js", "without-js"])
def test_enter_after_fixing_a_mistake_sends_the_request(
    browser, live_server, demo, quick_hands, javascript
):
    context, page = _new_page(browser, PHONE, javascript=javascript)
    try:
        # Not the first treatment: Enter pressing the first treatment's button would show.
        service = Service.objects.active().last()
        assert service != Service.objects.active().first()
        page.goto(live_server.url + f"/book/?service={service.slug}")
        page.locator("label.slot").first.click()
        page.get_by_label("First name").fill("Rosa")
        page.get_by_label("Last name").fill("Parks")
        page.get_by_label("Email address").fill("rosa@")  # a slip
        page.get_by_label("Phone number").fill("(212) 555-0123")
        page.get_by_label("What best describes your back pain?").select_option("sciatica")
        page.get_by_label(CONSENT).check()
        page.get_by_role("button", name="Send my request").click()

        email = page.get_by_label("Email address")
        expect(email).to_have_attribute("aria-invalid", "true")
        expect(email).to_be_focused()
        chosen = page.locator("input[name=slot]:checked").get_attribute("value")
        assert chosen  # the time is still ticked
        # The choices are buttons now, and still come before the form.
        expect(page.locator('button[name="choose"]').first).to_be_visible()

        email.fill("rosa@example.com")
        email.press("Enter")

        expect(page).to_have_url(REQUEST_PAGE)
        appointment = Appointment.objects.get()
        assert appointment.service == service
        assert appointment.start == datetime.fromisoformat(chosen)
        assert appointment.email == "rosa@example.com"
        assert page.watch.problems == []
    finally:
        context.close()


def test_the_hidden_default_button_is_no_tab_stop_and_no_named_button(
    browser, live_server, demo, quick_hands
):
    """Tab from the last choice before the form skips it; screen readers are not told of
    two "Send my request" buttons; it adds no sideways scrolling on a phone."""
    context, page = _new_page(browser, PHONE, javascript=False)
    try:
        page.goto(live_server.url + "/book/")
        page.get_by_role("button", name="Send my request").click()
        expect(page.locator('button[name="choose"]').first).to_be_visible()

        expect(page.get_by_role("button", name="Send my request")).to_have_count(1)
        submits = page.locator('button[type=submit]:not([name="choose"])')
        expect(submits).to_have_count(2)
        default = submits.first
        expect(default).to_have_attribute("tabindex", "-1")
        expect(default).to_have_attribute("aria-hidden", "true")
        box = default.bounding_box()
        assert box is not None and box["width"] <= 1 and box["height"] <= 1  # rendered
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
        # The default button is the request's: the first submit button of the form.
        first_submit = page.evaluate(
            """() => Array.from(document.getElementById('booking-form').elements)
                 .find(el => el.type === 'submit').outerHTML"""
        )
        assert 'name="choose"' not in first_submit
        assert "Send my request" in first_submit
    finally:
        context.close()
