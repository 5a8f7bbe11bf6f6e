"""Every change is a POST with a CSRF token from our own pages; a GET never changes anything."""

import os
from pathlib import Path

import pytest
from django.conf import settings
from django.test import Client
from django.urls import reverse

from booking.models import Appointment, OutgoingEmail
from tests.booking.conftest import local
from tests.security.conftest import BOOK, nothing_stored_or_sent

EVIL = "https://evil.example"


def csrf_token(client, url):
    client.get(url)
    return client.cookies[settings.CSRF_COOKIE_NAME].value


@pytest.fixture
def strict():
    return Client(enforce_csrf_checks=True)


def test_the_request_form_without_a_token_is_refused(strict, request_data):
    response = strict.post(BOOK, request_data())
    assert response.status_code == 403
    assert nothing_stored_or_sent()
    # A patient meets a page that tells them what to do, not Django's developer text.
    page = response.content.decode()
    assert "Please send the form again" in page
    assert "Nothing was saved" in page
    assert "CSRF" not in page


def test_the_request_form_with_a_forged_token_is_refused(strict, request_data):
    strict.get(BOOK)
    response = strict.post(BOOK, request_data(csrfmiddlewaretoken="A" * 64))
    assert response.status_code == 403
    assert nothing_stored_or_sent()


def test_the_request_form_from_another_site_is_refused(strict, request_data):
    token = csrf_token(strict, BOOK)
    data = request_data(csrfmiddlewaretoken=token)
    assert strict.post(BOOK, data, HTTP_ORIGIN=EVIL).status_code == 403
    assert strict.post(BOOK, data, HTTP_ORIGIN="null").status_code == 403
    assert nothing_stored_or_sent()
    # The same form from our own page books.
    assert strict.post(BOOK, data, HTTP_ORIGIN="http://testserver").status_code == 302
    assert Appointment.objects.count() == 1


@pytest.fixture
def booked(make_appointment, monday):
    return make_appointment(local(monday, 10))


def test_cancelling_from_another_site_is_refused(strict, booked):
    cancel = reverse("booking:request-cancel", args=[booked.token])
    token = csrf_token(strict, cancel)
    data = {"confirm": "yes", "csrfmiddlewaretoken": token}
    assert strict.post(cancel, data, HTTP_ORIGIN=EVIL).status_code == 403
    booked.refresh_from_db()
    assert booked.is_active


def test_sending_the_form_by_get_books_nothing(client, request_data):
    response = client.get(BOOK, request_data())
    assert response.status_code == 200
    assert nothing_stored_or_sent()


def test_the_cancel_link_opened_with_confirm_in_the_address_changes_nothing(client, booked):
    cancel = reverse("booking:request-cancel", args=[booked.token])
    for method in (client.get, client.head):
        assert method(cancel, {"confirm": "yes"}).status_code == 200
    booked.refresh_from_db()
    assert booked.is_active
    assert booked.changes.count() == 1


@pytest.fixture
def staff_strict(admin_user):
    client = Client(enforce_csrf_checks=True)
    client.force_login(admin_user)
    return client


def changelist():
    return reverse("admin:booking_appointment_changelist")


@pytest.mark.parametrize("action", ["confirm", "decline", "cancel", "complete", "mark_no_show"])
def test_admin_actions_by_get_change_nothing(staff_strict, booked, action):
    params = {"action": action, "_selected_action": booked.pk, "index": "0", "apply": "1"}
    response = staff_strict.get(changelist(), params)
    assert response.status_code in (200, 302)
    booked.refresh_from_db()
    assert booked.status == Appointment.Status.REQUESTED


@pytest.mark.parametrize("action", ["confirm", "decline", "cancel"])
def test_admin_actions_without_a_token_are_refused(staff_strict, booked, action):
    data = {"action": action, "_selected_action": booked.pk, "index": "0", "apply": "1"}
    assert staff_strict.post(changelist(), data).status_code == 403
    booked.refresh_from_db()
    assert booked.status == Appointment.Status.REQUESTED


@pytest.mark.parametrize("status", ["confirmed", "declined", "cancelled"])
def test_the_status_buttons_need_a_post_with_a_token(staff_strict, booked, status):
    url = reverse("admin:booking_appointment_status", args=[booked.pk, status])
    assert staff_strict.get(url, {"note": "by get"}).status_code == 200
    assert staff_strict.post(url, {"note": "no token"}).status_code == 403
    token = csrf_token(staff_strict, url)
    response = staff_strict.post(url, {"csrfmiddlewaretoken": token}, HTTP_ORIGIN=EVIL)
    assert response.status_code == 403
    booked.refresh_from_db()
    assert booked.status == Appointment.Status.REQUESTED


def test_resending_an_email_needs_a_post_with_a_token(staff_strict, booked):
    email = booked.emails.first()
    url = reverse("admin:booking_outgoingemail_change", args=[email.pk])
    before = OutgoingEmail.objects.count()
    assert staff_strict.get(url, {"_resend": "1"}).status_code == 200
    assert staff_strict.post(url, {"_resend": "1"}).status_code == 403
    params = {"action": "resend_selected", "_selected_action": email.pk, "index": "0"}
    staff_strict.get(reverse("admin:booking_outgoingemail_changelist"), params)
    assert OutgoingEmail.objects.count() == before
    email.refresh_from_db()
    assert email.attempts == 0


def test_changing_an_appointment_without_a_token_is_refused(staff_strict, booked):
    url = reverse("admin:booking_appointment_change", args=[booked.pk])
    assert staff_strict.post(url, {"staff_notes": "by a forged form"}).status_code == 403
    booked.refresh_from_db()
    assert booked.staff_notes == ""


def test_signing_in_without_a_token_is_refused(strict, admin_user):
    response = strict.post(reverse("admin:login"), {"username": "admin", "password": "password"})
    assert response.status_code == 403


def test_csrf_protection_is_on_for_the_whole_site():
    assert "django.middleware.csrf.CsrfViewMiddleware" in settings.MIDDLEWARE


def test_no_view_of_ours_is_exempt_from_csrf():
    root = Path(settings.BASE_DIR)
    skipped = {".venv", "node_modules", "staticfiles", ".git", ".pytest_cache", "__pycache__"}
    found, read = [], 0
    for folder, folders, files in os.walk(root):
        folders[:] = [name for name in folders if name not in skipped]
        for name in files:
            path = Path(folder, name)
            if path.suffix not in (".py", ".html") or path == Path(__file__):
                continue
            read += 1
            if "csrf_exempt" in path.read_text(encoding="utf-8", errors="replace"):
                found.append(str(path.relative_to(root)))
    assert read > 50  # our apps, settings and templates were read
    assert found == []
