"""Patients' words, sent through the public form, are text everywhere staff or they read them.

tests/admin/test_admin_pages.py stores scripts straight into the database; here they come
the way an attacker would send them (the form, its cleaning and its emails included), and
are followed into every page, file and email that shows them.
"""

import csv
import io

import pytest
from django.core import mail
from django.db import connection
from django.urls import reverse

from booking.models import Appointment, OutgoingEmail
from tests.booking.conftest import local
from tests.security.conftest import BOOK

FIRST = '<script>alert("first")</script>'
LAST = "\"><img src=x onerror=alert('last')>"
# A quoted local part may hold < > ( ) / : a valid address, and a script.
EMAIL = '"<script>alert(1)</script>"@example.com'
TEMPLATE = '{{ "pwned"|upper }}{% now "Y" %}'
MESSAGE = f"</textarea><script>alert('message')</script>{TEMPLATE}"
RAW = ["<script>alert", "<img src=x", "</textarea><script"]


@pytest.fixture
def attack(client, request_data, django_capture_on_commit_callbacks):
    """A request whose every typed field carries markup, booked through the public form."""
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            BOOK, request_data(first_name=FIRST, last_name=LAST, email=EMAIL, message=MESSAGE)
        )
    assert response.status_code == 302
    appointment = Appointment.objects.get()
    # Stored exactly as sent: escaping is the pages' job, not the database's.
    assert (appointment.first_name, appointment.last_name) == (FIRST, LAST)
    assert (appointment.email, appointment.message) == (EMAIL, MESSAGE)
    return appointment


def assert_inert(html, where):
    for raw in RAW:
        assert raw not in html, (where, raw)
    assert "PWNED" not in html, where


def admin_pages(appointment, monday):
    change = reverse("admin:booking_appointment_change", args=[appointment.pk])
    email = appointment.emails.filter(kind=OutgoingEmail.Kind.STAFF_NEW_REQUEST).get()
    return [
        (reverse("admin:booking_appointment_changelist"), {}),
        (reverse("admin:booking_appointment_changelist"), {"q": "alert"}),
        (change, {}),
        (reverse("admin:booking_appointment_history", args=[appointment.pk]), {}),
        (reverse("admin:booking_appointment_status", args=[appointment.pk, "cancelled"]), {}),
        (reverse("admin:booking_appointment_schedule"), {"date": monday.isoformat()}),
        (
            reverse("admin:booking_appointment_schedule"),
            {"view": "week", "date": monday.isoformat()},
        ),
        (reverse("admin:booking_outgoingemail_changelist"), {}),
        (reverse("admin:booking_outgoingemail_changelist"), {"q": "script"}),
        (reverse("admin:booking_outgoingemail_change", args=[email.pk]), {}),
        (reverse("admin:index"), {}),
    ]


def test_markup_sent_by_a_patient_is_text_on_every_admin_page(admin_client, attack, monday):
    for url, params in admin_pages(attack, monday):
        response = admin_client.get(url, params)
        assert response.status_code == 200, url
        assert_inert(response.text, url)


def test_the_change_form_shows_the_patients_words_escaped(admin_client, attack):
    html = admin_client.get(reverse("admin:booking_appointment_change", args=[attack.pk])).text
    assert "&lt;script&gt;alert(&quot;first&quot;)&lt;/script&gt;" in html
    assert "&quot;&gt;&lt;img src=x onerror=alert(&#x27;last&#x27;)&gt;" in html
    assert "{{ &quot;pwned&quot;|upper }}{% now &quot;Y&quot; %}" in html


def test_markup_is_text_after_staff_act_on_the_request(admin_client, attack, run_action, monday):
    run_action(admin_client, "confirm", [attack])
    response = admin_client.get(reverse("admin:booking_appointment_changelist"))
    assert "1 appointment confirmed" in response.text
    for url, params in admin_pages(attack, monday):
        assert_inert(admin_client.get(url, params).text, url)


def test_the_patients_own_pages_show_their_name_as_text(client, attack):
    for url in (attack.patient_url, attack.patient_url + "cancel/"):
        assert_inert(client.get(url).content.decode(), url)
    html = client.get(attack.patient_url).content.decode()
    assert "&lt;script&gt;alert(&quot;first&quot;)&lt;/script&gt;" in html


def test_every_email_is_escaped_in_html_and_literal_in_text(attack):
    messages = mail.outbox
    assert {m.to[0] for m in messages} == {EMAIL, "front-desk@localhost"}
    for message in messages:
        html = next(body for body, kind in message.alternatives if kind == "text/html")
        assert_inert(html, message.subject)
        assert "&lt;script&gt;alert(&quot;first&quot;)&lt;/script&gt;" in html
        # Plain text is not HTML: the name is shown as typed, never interpreted.
        assert FIRST in message.body
        assert "PWNED" not in message.body
        assert "\n" not in message.subject and "\r" not in message.subject
    for row in OutgoingEmail.objects.all():
        assert_inert(row.body_html, row.kind)


@pytest.fixture
def exported(front_desk_client):
    def rows(**params):
        response = front_desk_client.get(reverse("admin:booking_appointment_export"), params)
        text = b"".join(response.streaming_content).decode("utf-8").removeprefix("\ufeff")
        return list(csv.DictReader(io.StringIO(text)))

    return rows


@pytest.mark.parametrize(
    "formula",
    [
        # What a name may hold: one with an @ or a web address is refused at once
        # (test_spam_and_limits.py).
        '=HYPERLINK("#evil","Click")',
        "+1+cmd|' /C calc'!A0",
        "-2+3+cmd|' /C calc'!A0",
        "=SUM(1+1)*cmd|' /C calc'!A0",
        "=1+1\t",
    ],
)
def test_formulas_sent_through_the_form_are_neutralised_in_the_export(
    client, request_data, exported, formula
):
    email = "=1+cmd@example.com" if formula.startswith("=") else "ada@example.com"
    data = request_data(first_name=formula, last_name=formula, email=email)
    assert client.post(BOOK, data).status_code == 302
    (row,) = exported()
    for value in row.values():
        assert not value.startswith(("=", "+", "-", "@", "\t", "\r")), value
    assert row["First name"] == "'" + formula.strip()
    assert row["Email"] == "'" + email if email.startswith("=") else email


def test_markup_in_the_export_is_kept_as_plain_text(attack, exported):
    (row,) = exported()
    assert (row["First name"], row["Last name"], row["Email"]) == (FIRST, LAST, EMAIL)


SQL = [
    "Robert'); DROP TABLE booking_appointment;--",
    "' OR '1'='1",
    '"; SELECT pg_sleep(5); --',
    "1; UPDATE booking_appointment SET status='confirmed'",
    "%' UNION SELECT password FROM auth_user --",
]


@pytest.mark.parametrize("text", SQL)
def test_sql_looking_input_is_stored_literally(booked, text):
    appointment = booked(last_name=text, message=text)
    assert Appointment.objects.filter(last_name=text).get() == appointment
    assert appointment.message == text
    assert appointment.status == Appointment.Status.REQUESTED
    assert "booking_appointment" in connection.introspection.table_names()


@pytest.mark.parametrize("text", SQL)
def test_sql_looking_searches_find_only_what_they_spell(admin_client, request_at, text):
    ada = request_at(9)
    response = admin_client.get(reverse("admin:booking_appointment_changelist"), {"q": text})
    assert response.status_code == 200
    assert ada.reference not in response.text


@pytest.mark.parametrize(
    "params",
    [
        {"concern": "<script>alert(1)</script>"},
        {"from": '"><script>alert(1)</script>'},
        {"service": "<img src=x onerror=alert(1)>"},
        {"practitioner": "<script>alert(1)</script>"},
        {"day": "<script>alert(1)</script>"},
    ],
)
def test_what_the_address_carries_is_never_echoed_as_markup(client, service, practitioner, params):
    for url in ("/book/", "/book/times/"):
        response = client.get(url, params)
        assert response.status_code == 200
        assert_inert(response.content.decode(), url)


def test_a_search_for_markup_is_shown_as_text(client, clinic):
    response = client.get("/articles/", {"q": '"><script>alert(1)</script>{{ "pwned"|upper }}'})
    assert response.status_code == 200
    assert_inert(response.content.decode(), "/articles/")


def test_a_refused_form_echoes_what_was_typed_as_text(client, request_data, monday):
    data = request_data(
        first_name=FIRST, last_name=LAST, email=EMAIL, message=MESSAGE, phone="<script>"
    )
    data["slot"] = local(monday, 10, 7).isoformat()
    response = client.post(BOOK, data)
    assert response.status_code == 200
    assert_inert(response.content.decode(), "/book/")
    assert Appointment.objects.count() == 0


def test_a_staff_note_is_text_in_the_history_and_the_patients_email(
    admin_client, attack, django_capture_on_commit_callbacks
):
    url = reverse("admin:booking_appointment_status", args=[attack.pk, "declined"])
    with django_capture_on_commit_callbacks(execute=True):
        admin_client.post(url, {"note": MESSAGE})
    attack.refresh_from_db()
    assert attack.status == Appointment.Status.DECLINED
    change = admin_client.get(reverse("admin:booking_appointment_change", args=[attack.pk]))
    assert_inert(change.text, "history")
    assert "&lt;/textarea&gt;&lt;script&gt;alert(&#x27;message&#x27;)" in change.text
    declined = next(m for m in mail.outbox if "cannot offer the time" in m.subject)
    html = next(body for body, kind in declined.alternatives if kind == "text/html")
    assert_inert(html, "declined email")
    assert MESSAGE in declined.body
