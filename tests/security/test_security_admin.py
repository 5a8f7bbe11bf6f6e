"""The admin under hostile addresses, and its sign-in: cookies, sessions, sign-out, passwords.

Axes lockout and "the same message for an unknown user" are in
tests/admin/test_admin_login_throttling.py; each group's own pages in
tests/admin/test_staff_permissions.py.
"""

import pytest
from django.contrib.auth.models import User
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.test import Client
from django.urls import reverse

from booking.models import Appointment

CHANGELIST = reverse("admin:booking_appointment_changelist")
EXPORT = reverse("admin:booking_appointment_export")
SCHEDULE = reverse("admin:booking_appointment_schedule")
PASSWORD = "correct-horse-battery-staple"

HOSTILE_LIST_PARAMS = [
    {"o": "999"},
    {"o": "-abc"},
    {"o": "1.2.3.-4"},
    {"o": "1." * 500},
    {"o": "\x00"},
    {"q": "\x00"},
    {"q": "a\x00b"},
    {"q": "%_\\"},
    {"q": "'" * 5},
    {"q": "x" * 10_000},
    {"q": "(212) 555-01\x00"},
    {"p": "abc"},
    {"p": "-1"},
    {"p": "99999999999999999999"},
    {"status": "<script>"},
    {"when": "yesterday"},
    {"practitioner__id__exact": "abc"},
    {"service__id__exact": "99999999999999999999999"},
    {"unknown_filter": "1"},
    {"practitioner__user__password__startswith": "pbkdf2"},
    {"email__regex": ".*"},
    {"_to_field": "password"},
    {"start__year": "abc"},
    {"start__year": "0"},
    {"start__year": "99999"},
    {"start__year": "2027", "start__month": "13"},
    {"start__year": "2027", "start__month": "2", "start__day": "30"},
    {"start__year": "2027", "start__month": "-1"},
    {"start__day": "1"},
    {"start__gte": "not-a-date"},
    {"e": "1"},
    {"all": ""},
]


def ids(params):
    return "&".join(f"{k}={v[:12]!r}" for k, v in params.items())


@pytest.mark.parametrize("params", HOSTILE_LIST_PARAMS, ids=ids)
def test_hostile_list_parameters_never_break_the_appointment_list(admin_client, request_at, params):
    request_at(10)
    for url in (CHANGELIST, EXPORT):
        response = admin_client.get(url, params)
        assert response.status_code in (200, 302, 400), (url, response.status_code)
        if response.status_code == 302:
            assert response["Location"].endswith("?e=1"), response["Location"]
    assert Appointment.objects.count() == 1


@pytest.mark.parametrize(
    "url",
    [
        reverse("admin:booking_outgoingemail_changelist"),
        reverse("admin:articles_article_changelist"),
        reverse("admin:booking_clinicclosure_changelist"),
        reverse("admin:auth_user_changelist"),
    ],
)
def test_hostile_list_parameters_never_break_the_other_lists(admin_client, url):
    for params in HOSTILE_LIST_PARAMS:
        response = admin_client.get(url, params)
        assert response.status_code in (200, 302, 400), (params, response.status_code)


@pytest.mark.parametrize(
    "params",
    [
        {"date": "9999-12-31"},
        {"date": "9999-12-31", "view": "week"},
        {"date": "0001-01-01"},
        {"date": "0001-01-01", "view": "week"},
        {"date": "2027-02-30"},
        {"date": "\x00"},
        {"date": "x" * 5000, "view": "<script>"},
    ],
    ids=ids,
)
def test_any_schedule_date_shows_a_schedule(admin_client, practitioner, params):
    response = admin_client.get(SCHEDULE, params)
    assert response.status_code == 200
    assert "<script>" not in response.text.split("</head>")[1]


@pytest.mark.parametrize(
    "params",
    [
        {"start": "9999-12-31T23:59:59-23:59"},
        {"start": "0001-01-01T00:00:00+14:00"},
        {"start": "0001-01-01T00:00:00"},
        {"start": "2027-03-14T02:30:00"},  # a wall-clock time that does not exist
        {"start": "not a date"},
        {"practitioner": "abc"},
        {"practitioner": "99999999999999999999999"},
        {"service": "\x00"},
    ],
    ids=ids,
)
def test_the_add_form_opens_whatever_the_schedule_link_carries(admin_client, practitioner, params):
    response = admin_client.get(reverse("admin:booking_appointment_add"), params)
    assert response.status_code == 200


@pytest.mark.parametrize("object_id", ["abc", "99999999", "1 OR 1=1", "..%2F..%2Fadmin", "\x00"])
def test_an_unknown_appointment_is_not_found_on_its_pages(admin_client, request_at, object_id):
    request_at(10)
    for name in ("change", "history", "delete"):
        response = admin_client.get(reverse(f"admin:booking_appointment_{name}", args=[object_id]))
        assert response.status_code in (302, 404), (name, response.status_code)
    status = reverse("admin:booking_appointment_status", args=[object_id, "confirmed"])
    assert admin_client.post(status).status_code == 404
    assert Appointment.objects.get().status == Appointment.Status.REQUESTED


def test_an_unknown_status_is_not_found(admin_client, request_at):
    appointment = request_at(10)
    for status in ("requested", "deleted", "staff"):
        url = reverse("admin:booking_appointment_status", args=[appointment.pk, status])
        assert admin_client.post(url).status_code == 404
    assert Appointment.objects.get().status == Appointment.Status.REQUESTED


# Signing in and out.


@pytest.fixture
def owner(db, settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    return User.objects.create_superuser("owner", "owner@example.com", PASSWORD)


def sign_in(client):
    return client.post(
        reverse("admin:login"),
        {"username": "owner", "password": PASSWORD, "next": reverse("admin:index")},
    )


def test_session_and_csrf_cookies_are_host_only_secure_and_unreadable_by_script(owner):
    client = Client()
    client.get(reverse("admin:login"))
    response = sign_in(client)
    assert response.status_code == 302
    session = response.cookies["__Host-sessionid"]
    csrf = client.cookies["__Host-csrftoken"]
    for cookie in (session, csrf):
        assert cookie["secure"] is True
        assert cookie["httponly"] is True
        assert cookie["samesite"] == "Lax"
        assert cookie["path"] == "/"
        assert not cookie["domain"]  # __Host-: this host only, no subdomain
    assert session["max-age"] == 8 * 60 * 60


def test_signing_in_gives_a_new_session(owner):
    client = Client()
    client.get(reverse("admin:login"))
    client.session.save()
    before = client.session.session_key
    sign_in(client)
    after = client.session.session_key
    assert after and after != before
    assert client.session["_auth_user_id"] == str(owner.pk)


def test_signing_out_needs_a_post_with_csrf(owner):
    client = Client(enforce_csrf_checks=True)
    client.force_login(owner)
    logout = reverse("admin:logout")
    assert client.get(logout).status_code == 405
    assert client.post(logout).status_code == 403
    assert client.get(reverse("admin:index")).status_code == 200  # still signed in
    token = client.get(reverse("admin:index")).context["csrf_token"]
    assert client.post(logout, {"csrfmiddlewaretoken": str(token)}).status_code == 200
    assert client.get(reverse("admin:index")).status_code == 302


@pytest.mark.parametrize("password", ["Short1!x", "elevenchars", "123456789012345", "password1234"])
def test_weak_staff_passwords_are_refused(password):
    with pytest.raises(ValidationError):
        validate_password(password)


def test_a_long_unusual_password_is_accepted():
    validate_password("needles-and-moxa-at-nine")


@pytest.mark.parametrize("selected", ["abc", "1 OR 1=1", "\x00", "", "-1"])
@pytest.mark.parametrize(
    ("url", "action"),
    [
        (CHANGELIST, "confirm"),
        (CHANGELIST, "decline"),
        (CHANGELIST, "export_selected"),
        (reverse("admin:booking_outgoingemail_changelist"), "resend_selected"),
    ],
)
def test_forged_row_ids_in_an_action_change_nothing(
    admin_client, request_at, url, action, selected
):
    appointment = request_at(10)
    data = {"action": action, "_selected_action": [str(appointment.pk), selected], "index": "0"}
    response = admin_client.post(url, data)
    assert response.status_code == 302
    assert "Nothing was changed" in admin_client.get(response["Location"]).text
    appointment.refresh_from_db()
    assert appointment.status == Appointment.Status.REQUESTED
    assert appointment.emails.filter(attempts__gt=0).count() == 0


@pytest.mark.parametrize(
    "model",
    ["booking.service", "booking.practitioner", "articles.topic", "auth.user", "auth.group"],
)
def test_forged_row_ids_in_delete_selected_delete_nothing(
    admin_client, service, practitioner, model
):
    from django.apps import apps

    from articles.models import Topic

    Topic.objects.create(name="Sciatica", slug="sciatica")
    app_label, model_name = model.split(".")
    rows = apps.get_model(app_label, model_name).objects
    before = rows.count()
    url = reverse(f"admin:{app_label}_{model_name}_changelist")
    data = {"action": "delete_selected", "_selected_action": [str(rows.first().pk), "abc"]}
    response = admin_client.post(url, data)
    assert response.status_code == 302
    assert "Nothing was changed" in admin_client.get(response["Location"]).text
    assert rows.count() == before
