"""Staff in the admin, in a real browser on a desktop: the front desk confirms a new request
and finds it on the schedule; an editor drafts, previews and publishes an article."""

import re

import pytest
from django.contrib.auth.models import Group, User
from django.utils import timezone
from playwright.sync_api import expect

from articles.models import Article
from booking.models import Appointment
from tests.e2e.conftest import axe_violations, screenshot, sign_in_to_admin

PASSWORD = "a-long-staff-password-for-browser-tests"


def staff_member(username, group):
    user = User.objects.create_user(username, f"{username}@example.com", PASSWORD, is_staff=True)
    user.groups.add(Group.objects.get(name=group))
    return user


@pytest.fixture
def front_desk(demo):
    return staff_member("frontdesk", "Front desk")


@pytest.fixture
def editor(demo):
    return staff_member("editor", "Content editor")


def test_front_desk_confirms_a_new_request_and_sees_it_on_the_schedule(
    desktop_page, live_server, front_desk, booked_request
):
    page = desktop_page
    reference = booked_request.reference
    sign_in_to_admin(page, live_server.url, "frontdesk", PASSWORD)
    screenshot(page, "admin-home")

    page.get_by_role("link", name="1 request awaiting a decision").click()
    row = page.get_by_role("row").filter(has_text=reference)
    expect(row).to_contain_text("Rosa Parks")
    screenshot(page, "admin-requests")
    # Every column on a 1280-pixel screen, none behind a sideways scroll.
    results = page.locator("#changelist .results")
    assert results.evaluate("list => list.scrollWidth <= list.clientWidth")
    row.get_by_role("checkbox").check()
    page.get_by_role("combobox", name="Action").select_option(label="Confirm selected requests")
    page.get_by_role("button", name="Run").click()
    expect(page.locator(".messagelist")).to_contain_text(f"1 appointment confirmed: {reference}")
    booked_request.refresh_from_db()
    assert booked_request.status == Appointment.Status.CONFIRMED

    page.get_by_role("link", name="Schedule", exact=True).click()
    day = timezone.localtime(booked_request.start).date()
    page.get_by_label("Go to").fill(day.isoformat())
    page.get_by_role("button", name="Show").click()
    booked = page.locator("td.booked").filter(has_text="Rosa Parks")
    expect(booked).to_contain_text("Confirmed")
    expect(booked).to_contain_text(booked_request.service.name)
    screenshot(page, "admin-schedule")
    assert axe_violations(page) == []
    assert page.watch.problems == []


def test_editor_drafts_previews_and_publishes_an_article(desktop_page, live_server, editor):
    page = desktop_page
    sign_in_to_admin(page, live_server.url, "editor", PASSWORD)
    page.goto(live_server.url + "/admin/articles/article/add/")
    page.get_by_label("Title").press_sequentially("Heat or ice for a sore back?")
    # The admin's script fills in the address from the title.
    expect(page.get_by_label("Slug")).to_have_value("heat-or-ice-for-a-sore-back")
    page.get_by_label("Summary").fill("What the evidence says about heat and ice.")
    page.get_by_label("Body").fill("## Heat\n\nA heat wrap may ease a sore back a little.\n")
    page.get_by_label("Author name").fill("Maya Chen, L.Ac.")
    page.get_by_label("Medical reviewer").fill("Dr. Samuel Okafor")
    page.get_by_label("Reviewed on").fill(timezone.localdate().isoformat())
    page.get_by_role("button", name="Save and continue editing").click()
    expect(page.locator(".messagelist")).to_contain_text("was added successfully")
    article = Article.objects.get(slug="heat-or-ice-for-a-sore-back")
    assert article.status == Article.Status.DRAFT
    # Patients cannot see a draft.
    assert (
        page.request.get(live_server.url + "/articles/heat-or-ice-for-a-sore-back/").status == 404
    )

    page.get_by_role("link", name="View on site").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Heat or ice for a sore back?")
    expect(page.locator(".preview-banner")).to_be_visible()
    screenshot(page, "admin-article-preview")

    page.goto(live_server.url + "/admin/articles/article/")
    row = page.get_by_role("row").filter(has_text="Heat or ice for a sore back?")
    row.get_by_role("checkbox").check()
    page.get_by_role("combobox", name="Action").select_option(label="Publish selected articles")
    page.get_by_role("button", name="Run").click()
    expect(page.locator(".messagelist")).to_contain_text("1 article published.")

    page.goto(live_server.url + "/articles/")
    page.get_by_role("link", name="Heat or ice for a sore back?").click()
    expect(page).to_have_url(re.compile("/articles/heat-or-ice-for-a-sore-back/$"))
    expect(page.locator(".preview-banner")).to_have_count(0)
    assert page.watch.problems == []
