"""A patient requests a consultation in a real browser: with JavaScript, without it, and
with the keyboard only; and is told clearly what is missing when the form is incomplete."""

import re

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from booking.models import Appointment
from tests.e2e.conftest import axe_violations, focus_ring, screenshot, scroll_width_at

CONSENT = re.compile("I agree that the clinic may keep")
REQUEST_PAGE = re.compile(r"/book/request/[^/]+/$")


def fill_in_about_me(page):
    page.get_by_label("First name").fill("Rosa")
    page.get_by_label("Last name").fill("Parks")
    page.get_by_label("Email address").fill("rosa@example.com")
    page.get_by_label("Phone number").fill("(212) 555-0123")
    page.get_by_label("What best describes your back pain?").select_option("sciatica")
    page.get_by_label(CONSENT).check()


def start_a_request(page, url):
    """Open the booking page at `url`, take its first open time and fill in the details."""
    page.goto(url)
    page.locator("label.slot").first.click()
    fill_in_about_me(page)


def test_patient_reads_an_article_books_from_it_and_cancels_on_a_phone(
    phone_page, live_server, demo, quick_hands
):
    page = phone_page
    page.goto(live_server.url + "/articles/")
    screenshot(page, "articles")
    assert axe_violations(page) == []
    link = page.locator(".article-card h2 a").first
    title = link.inner_text()
    link.click()
    expect(page.get_by_role("heading", level=1)).to_have_text(title)
    screenshot(page, "article")
    assert axe_violations(page) == []
    article_url = page.url

    page.get_by_role("main").get_by_role("link", name="Book a consultation").click()
    expect(page).to_have_url(re.compile(r"/book/\?.*from="))
    expect(page.get_by_role("heading", level=1)).to_have_text("Request a consultation")
    screenshot(page, "book")
    assert axe_violations(page) == []

    # The second open day: the script fetches its times without reloading the page.
    second_day = page.locator(".day-list a.day").nth(1)
    day_label = second_day.inner_text()
    second_day.click()
    expect(page.locator("#times-status")).to_contain_text("open time")
    expect(second_day).to_have_attribute("aria-current", "date")
    first_time = page.locator("label.slot").first
    time_label = first_time.inner_text()
    first_time.click()
    expect(page.locator("input[name=slot]").first).to_be_checked()
    fill_in_about_me(page)
    page.get_by_role("button", name="Send my request").click()

    expect(page).to_have_url(REQUEST_PAGE)
    expect(page.get_by_role("heading", level=1)).to_have_text("Your consultation request")
    expect(page.locator(".request-summary")).to_contain_text("Requested")
    expect(page.locator(".request-summary")).to_contain_text(time_label)
    screenshot(page, "request")
    assert axe_violations(page) == []
    appointment = Appointment.objects.get()
    assert appointment.status == Appointment.Status.REQUESTED
    assert appointment.source_article.get_absolute_url() in article_url
    assert timezone.localtime(appointment.start).strftime("%b %-d") in day_label

    # Not confirmed yet: a request, as the patient was told.
    page.get_by_role("link", name="Cancel this request…").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Cancel your request?")
    screenshot(page, "request-cancel")
    assert axe_violations(page) == []
    page.get_by_role("button", name="Yes, cancel my request").click()
    expect(page).to_have_url(REQUEST_PAGE)
    expect(page.locator(".request-summary")).to_contain_text("Cancelled")
    appointment.refresh_from_db()
    assert appointment.status == Appointment.Status.CANCELLED
    # Back goes to pages the browser may simply load again: no form is sent twice, and
    # no "Confirm form resubmission" error.
    page.go_back()
    expect(page.get_by_role("main")).to_contain_text("there is nothing to cancel")
    page.go_back()
    expect(page).to_have_url(REQUEST_PAGE)
    expect(page.locator(".request-summary")).to_contain_text("Cancelled")
    assert appointment.changes.filter(to_status="cancelled").count() == 1
    assert page.watch.problems == []


def test_patient_books_without_javascript(no_js_phone_page, live_server, demo, quick_hands):
    page = no_js_phone_page
    page.goto(live_server.url + "/book/")
    # Without the script, a day is a link to the same page showing that day's times.
    second_day = page.locator(".day-list a.day").nth(1)
    second_day.click()
    expect(page.locator(".day-list a.day").nth(1)).to_have_attribute("aria-current", "date")
    page.locator("label.slot").first.click()
    fill_in_about_me(page)
    page.get_by_role("button", name="Send my request").click()

    expect(page).to_have_url(REQUEST_PAGE)
    expect(page.locator(".request-summary")).to_contain_text("Requested")
    screenshot(page, "request-no-js")
    assert Appointment.objects.get().first_name == "Rosa"
    assert page.watch.problems == []


def test_without_javascript_another_day_after_a_mistake_keeps_what_was_typed(
    no_js_phone_page, live_server, demo, quick_hands
):
    page = no_js_phone_page
    start_a_request(page, live_server.url + "/book/")
    page.get_by_label("Email address").fill("rosa@")
    page.get_by_role("button", name="Send my request").click()
    expect(page.locator("#id_email")).to_have_attribute("aria-invalid", "true")
    # Another day: a button sending the form back, not a link to a blank one.
    page.locator(".day-list button.day").nth(1).click()
    page.wait_for_url(re.compile("#time-choice$"))
    expect(page.locator(".day-list button.day").nth(1)).to_have_attribute("aria-current", "date")
    expect(page.get_by_label("First name")).to_have_value("Rosa")
    expect(page.get_by_label(CONSENT)).to_be_checked()
    expect(page.locator(".invalid-feedback")).to_have_count(0)
    assert scroll_width_at(page, 320) <= 320
    screenshot(page, "another-day-after-a-mistake-no-js")
    page.locator("label.slot").first.click()
    page.get_by_label("Email address").fill("rosa@example.com")
    page.get_by_role("button", name="Send my request").click()
    expect(page).to_have_url(REQUEST_PAGE)
    booked = Appointment.objects.get()
    assert (booked.first_name, booked.email) == ("Rosa", "rosa@example.com")
    assert page.watch.problems == []


def test_without_javascript_a_choice_brings_the_keyboard_to_the_next_step(
    no_js_phone_page, live_server, demo
):
    """Without the script each choice loads the page again: the next Tab goes on from the
    step after the choice, not from the top of the page, through the header and choices."""
    page = no_js_phone_page
    page.goto(live_server.url + "/book/")
    service, practitioner = "a[data-choice=service]", "a[data-choice=practitioner]"
    for link, step, next_control in [
        (page.locator(service).nth(1), "#practitioner-choice", practitioner),
        (page.locator(practitioner).nth(1), "#day-choice", "a.day"),
        (page.locator("a.day").nth(1), "#time-choice", "input[name=slot]"),
        (page.locator("a.day-page[data-direction=later]"), "#day-choice", "a.day"),
    ]:
        link.focus()
        page.keyboard.press("Enter")
        page.wait_for_url(re.compile(f"{step}$"))
        page.keyboard.press("Tab")
        focused = page.evaluate("() => document.activeElement.outerHTML.slice(0, 120)")
        assert page.evaluate("s => document.activeElement.matches(s)", next_control), focused
    expect(page.locator("a.day").first).to_be_focused()
    assert page.watch.problems == []


def tab_until(page, selector, *, presses=80):
    """Press Tab until a control matching selector has the focus; check each focus is seen."""
    for _ in range(presses):
        page.keyboard.press("Tab")
        ring = focus_ring(page)
        # An outline, not a faint glow: the site's focus ring on every control.
        assert ring and ring["outline"], f"focus not visible: {ring}"
        if page.evaluate("s => document.activeElement.matches(s)", selector):
            return ring
    pytest.fail(f"Tab never reached {selector}")


def test_booking_with_the_keyboard_only(desktop_page, live_server, demo, quick_hands):
    page = desktop_page
    page.goto(live_server.url + "/")
    tab_until(page, "a.btn[href='/book/']")
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", level=1)).to_have_text("Request a consultation")

    # Another day: its times replace the list, and the focus stays on the chosen day.
    tab_until(page, ".day-list li:nth-child(2) a.day")
    page.keyboard.press("Enter")
    second_day = page.locator(".day-list a.day").nth(1)
    expect(second_day).to_have_attribute("aria-current", "date")
    expect(second_day).to_be_focused()
    tab_until(page, "input[name=slot]")
    page.keyboard.press("Space")
    expect(page.locator("input[name=slot]").first).to_be_checked()
    for name, text in [
        ("first_name", "Rosa"),
        ("last_name", "Parks"),
        ("email", "rosa@example.com"),
        ("phone", "(212) 555-0123"),
    ]:
        tab_until(page, f"[name={name}]")
        page.keyboard.type(text)
    tab_until(page, "[name=concern]")
    page.keyboard.press("ArrowDown")
    expect(page.get_by_label("What best describes your back pain?")).not_to_have_value("")
    tab_until(page, "[name=consent]")
    page.keyboard.press("Space")
    expect(page.get_by_label(CONSENT)).to_be_checked()
    tab_until(page, "button[type=submit]")
    page.keyboard.press("Enter")

    expect(page).to_have_url(REQUEST_PAGE)
    expect(page.locator(".request-summary")).to_contain_text("Requested")
    assert Appointment.objects.get().last_name == "Parks"
    assert page.watch.problems == []


@pytest.mark.parametrize("javascript", [True, False], ids=["with-js", "without-js"])
def test_form_errors_are_announced_and_take_the_focus(
    browser, live_server, demo, quick_hands, javascript
):
    from tests.e2e.conftest import PHONE, _new_page

    context, page = _new_page(browser, PHONE, javascript=javascript)
    try:
        page.goto(live_server.url + "/book/")
        page.get_by_label("First name").fill("Rosa")
        page.get_by_label("Email address").fill("not an email")
        page.get_by_role("button", name="Send my request").click()

        expect(page).to_have_title(re.compile("^Please check your request"))
        summary = page.get_by_role("alert").filter(has_text="Please check your request")
        expect(summary).to_contain_text("Choose a time for your appointment.")
        expect(summary).to_contain_text("Enter an email address like name@example.com.")
        # The focus is on the first field to fix: the time.
        expect(page.locator("input[name=slot]").first).to_be_focused()
        # Each field with an error is described by it, so a screen reader reads it out.
        for label, message in [
            ("Last name", "Enter your last name."),
            ("Email address", "Enter an email address like name@example.com."),
            ("Phone number", "Enter a phone number we can call you on."),
            ("What best describes your back pain?", "Choose what best describes"),
        ]:
            field = page.get_by_label(label)
            expect(field).to_have_attribute("aria-invalid", "true")
            expect(field).to_have_accessible_description(re.compile(re.escape(message)))
        expect(page.get_by_label(CONSENT)).to_have_accessible_description(
            re.compile("Tick the box to agree")
        )
        expect(page.locator("#time-choice")).to_have_accessible_description(
            re.compile("Choose a time")
        )
        # What was typed is kept.
        expect(page.get_by_label("First name")).to_have_value("Rosa")
        # The summary's links take the focus to their field.
        summary.get_by_role("link", name="Enter your last name.").click()
        expect(page.get_by_label("Last name")).to_be_focused()

        screenshot(page, f"book-errors-{'js' if javascript else 'no-js'}")
        assert page.watch.problems == []
        if javascript:
            # axe-core runs as a script in the page: it needs JavaScript on. The page
            # without it is the same HTML, sent by the server.
            assert axe_violations(page) == []
            assert scroll_width_at(page, 320) <= 320
    finally:
        context.close()


def test_a_form_error_of_no_one_field_takes_the_focus_to_the_summary(
    no_js_phone_page, live_server, demo, quick_hands
):
    page = no_js_phone_page
    start_a_request(page, live_server.url + "/book/")
    # A form the site did not serve (or no longer recognises): nothing to fix in a field.
    page.locator("[name=form_token]").evaluate("input => { input.value = 'not-ours'; }")
    page.get_by_role("button", name="Send my request").click()

    summary = page.get_by_role("alert").filter(has_text="Please check your request")
    expect(summary).to_contain_text("This form had expired")
    expect(summary).to_be_focused()
    assert Appointment.objects.count() == 0


def test_changing_treatment_or_practitioner_keeps_what_the_patient_typed(
    desktop_page, live_server, demo, quick_hands
):
    """After "that time has just been taken", or on second thoughts, a patient picks
    another practitioner or treatment: what they already typed stays where it was."""
    page = desktop_page
    page.goto(live_server.url + "/book/?from=not-an-article")
    fill_in_about_me(page)

    samuel = page.get_by_role("link", name="Samuel Okafor, L.Ac.")
    samuel.click()
    expect(samuel).to_have_attribute("aria-current", "true")
    expect(page.locator("#times-status")).to_contain_text("Samuel Okafor, L.Ac.")
    chat = page.get_by_role("link", name=re.compile("Free 15-minute phone chat"))
    chat.click()
    expect(chat).to_have_attribute("aria-current", "true")
    expect(page.locator("#times-status")).to_contain_text("Free 15-minute phone chat")
    # The other choices still lead to pages that keep both (without the script, too).
    any_practitioner = page.get_by_role("link", name="Any practitioner")
    assert "service=phone-chat" in any_practitioner.get_attribute("href")
    # ...and, like the page's own links, to the step that follows the choice.
    assert any_practitioner.get_attribute("href").endswith("#day-choice")
    assert page.locator("a.day").first.get_attribute("href").endswith("#time-choice")

    expect(page.get_by_label("First name")).to_have_value("Rosa")
    expect(page.get_by_label("Email address")).to_have_value("rosa@example.com")
    expect(page.get_by_label(CONSENT)).to_be_checked()
    page.locator("label.slot").first.click()
    page.get_by_role("button", name="Send my request").click()
    expect(page).to_have_url(REQUEST_PAGE)
    appointment = Appointment.objects.get()
    assert appointment.practitioner.slug == "samuel-okafor"
    assert appointment.service.slug == "phone-chat"
    assert appointment.first_name == "Rosa"
    assert page.watch.problems == []
