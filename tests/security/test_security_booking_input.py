"""Whatever is typed or forged into the request form: a clear answer, never a 5xx, and
nothing stored or sent unless it was a real request.

tests/booking/test_request_form.py has each field's ordinary mistakes; these are the
values people paste by accident and attackers send on purpose.
"""

import pytest
from django.utils.html import escape

from booking.models import Appointment
from tests.booking.conftest import local
from tests.security.conftest import BOOK, FORM_FIELDS, booked_once, nothing_stored_or_sent

REQUIRED = {
    "service": "Choose a treatment.",
    "slot": "Choose a time for your appointment.",
    "first_name": "Enter your first name.",
    "last_name": "Enter your last name.",
    "email": "Enter your email address.",
    "phone": "Enter a phone number we can call you on.",
    "concern": "Choose what best describes your back pain, or “Other”.",
    "consent": "Tick the box to agree",
}
PHONE_HELP = "Enter a phone number like (212) 555-0123"
EMAIL_HELP = "Enter an email address like name@example.com."


def refused(response, message):
    """The form again, saying what is wrong, with nothing stored or sent."""
    assert response.status_code == 200
    html = response.content.decode()
    assert "Please check your request" in html
    assert escape(message) in html or message in html
    assert nothing_stored_or_sent()
    return html


def without(data, name):
    return {key: value for key, value in data.items() if key != name}


@pytest.mark.parametrize("field", sorted(REQUIRED))
def test_a_missing_required_field_is_asked_for(client, request_data, field):
    refused(client.post(BOOK, without(request_data(), field)), REQUIRED[field])


@pytest.mark.parametrize("field", ["practitioner", "is_new_patient", "message", "website"])
def test_a_missing_optional_field_still_books(client, request_data, field):
    appointment = booked_once(client.post(BOOK, without(request_data(), field)))
    assert appointment.first_name == "Ada"


@pytest.mark.parametrize("field", ["first_name", "last_name", "email", "phone", "concern", "slot"])
@pytest.mark.parametrize("blank", [" ", "\t\n  \r\n", "\u00a0\u2003"])
def test_whitespace_only_counts_as_missing(client, request_data, field, blank):
    message = REQUIRED.get(field)
    if field == "concern":
        message = "Choose one of the kinds of back pain listed"
    refused(client.post(BOOK, request_data(**{field: blank})), message)


@pytest.mark.parametrize("field", ["first_name", "last_name"])
@pytest.mark.parametrize("blank", ["\u200b", "\ufeff \u2060", "\u00ad\u200f"])
def test_a_name_of_characters_that_show_nothing_counts_as_missing(
    client, request_data, field, blank
):
    # Else staff would read "New request from " and the patient "Hello ,".
    refused(client.post(BOOK, request_data(**{field: blank})), REQUIRED[field])


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("email", "a" * 245 + "@example.com", "That email address is too long."),
        ("phone", "+1 212 555 0123" + " " * 10 + "1" * 10, "That phone number is too long."),
        ("slot", "2027-01-11T10:00:00-05:00" + "0" * 10_000, "Choose one of the times listed."),
        ("service", "s" * 10_000, "Choose one of the treatments listed."),
        ("practitioner", "p" * 10_000, "Choose one of our practitioners"),
        ("concern", "c" * 10_000, "Choose one of the kinds of back pain listed"),
    ],
)
def test_overlong_values_are_refused_with_a_reason(client, request_data, field, value, message):
    refused(client.post(BOOK, request_data(**{field: value})), message)


def test_an_overlong_form_token_is_an_expired_form(client, request_data):
    refused(client.post(BOOK, request_data(form_token="x" * 100_000)), "This form had expired")


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("service", "1", "Choose one of the treatments listed."),
        ("practitioner", "1", "Choose one of our practitioners"),
        ("slot", "1799999999", "Choose one of the times listed."),
        ("slot", "2027-02-30T10:00:00-05:00", "Choose one of the times listed."),
        ("slot", "2027-13-01T10:00:00-05:00", "Choose one of the times listed."),
        ("slot", "2027-01-11T25:00:00-05:00", "Choose one of the times listed."),
        ("slot", "2027-01-11T10:00:00+25:00", "Choose one of the times listed."),
        ("slot", "9999-12-31T23:59:59-23:59", "Choose one of the times listed."),
        ("slot", "0001-01-01T00:00:00-05:00", "That time has already passed."),
        ("concern", "Sciatica", "Choose one of the kinds of back pain listed"),
        ("consent", "", "Tick the box to agree"),
        ("consent", "false", "Tick the box to agree"),
    ],
)
def test_wrong_types_and_impossible_dates_are_refused(client, request_data, field, value, message):
    refused(client.post(BOOK, request_data(**{field: value})), message)


def test_a_yes_no_answer_of_another_type_is_read_as_yes(client, request_data):
    # A radio button can only send True or False; anything else is read as Django does.
    appointment = booked_once(client.post(BOOK, request_data(is_new_patient="banana")))
    assert appointment.is_new_patient is True


def test_repeated_keys_book_once_with_the_last_value(client, request_data, monday):
    data = request_data()
    data["first_name"] = ["Mallory", "Ada"]
    data["slot"] = [local(monday, 9).isoformat(), local(monday, 10).isoformat()]
    data["email"] = ["victim@example.com", "ada@example.com"]
    appointment = booked_once(client.post(BOOK, data))
    assert (appointment.first_name, appointment.email) == ("Ada", "ada@example.com")
    assert appointment.start == local(monday, 10)


def test_extra_fields_cannot_set_what_only_staff_set(client, request_data, front_desk):
    data = request_data(
        status="confirmed",
        id="1",
        pk="1",
        reference="AAAAAAAA",
        staff_notes="VIP, no need to check",
        channel="staff",
        created_by=str(front_desk.pk),
        submission_key="mine",
        consent_version="never",
        sequence="99",
        reminder_sent_at="2020-01-01T00:00:00Z",
    )
    appointment = booked_once(client.post(BOOK, data))
    assert appointment.status == Appointment.Status.REQUESTED
    assert appointment.reference != "AAAAAAAA"
    assert appointment.staff_notes == ""
    assert appointment.channel == Appointment.Channel.ONLINE
    assert appointment.created_by is None
    assert appointment.submission_key != "mine"
    assert appointment.consent_version != "never"
    assert (appointment.sequence, appointment.reminder_sent_at) == (0, None)


@pytest.mark.parametrize("field", ["service", "practitioner", "slot", "email", "phone", "concern"])
def test_a_nul_character_in_a_choice_email_or_phone_is_refused(client, request_data, field):
    value = request_data()[field]
    response = client.post(BOOK, request_data(**{field: value[:2] + "\x00" + value[2:]}))
    assert response.status_code == 200
    assert "Please check your request" in response.content.decode()
    assert nothing_stored_or_sent()


def test_a_nul_character_in_names_and_message_is_dropped(booked):
    # PostgreSQL cannot store NUL at all; in typed text it is never meant.
    appointment = booked(first_name="A\x00da", last_name="Love\x00lace", message="Worse\x00!")
    assert (appointment.first_name, appointment.last_name) == ("Ada", "Lovelace")
    assert appointment.message == "Worse!"


# Invisible characters a person pastes by accident, or an attacker sends to make a name read
# as something else in the admin and in the staff's email subjects.
INVISIBLE = {
    "escape": "\x1b[31m",
    "bell": "\x07",
    "delete": "\x7f",
    "C1 control": "\x9b",
    "right-to-left override": "\u202e",
    "left-to-right embedding": "\u202a",
    "pop directional formatting": "\u202c",
    "first strong isolate": "\u2068",
    "zero-width space": "\u200b",
    "right-to-left mark": "\u200f",
    "soft hyphen": "\u00ad",
    "word joiner": "\u2060",
    "byte-order mark": "\ufeff",
}


@pytest.mark.parametrize("character", INVISIBLE.values(), ids=INVISIBLE.keys())
def test_control_and_direction_override_characters_are_not_kept(booked, character):
    appointment = booked(
        first_name=f"Ad{character}a",
        last_name=f"{character}Lovelace",
        message=f"Worse{character} at night.",
    )
    assert appointment.first_name == "Ad[31ma" if character == "\x1b[31m" else "Ada"
    stored = [appointment.first_name, appointment.last_name, appointment.message]
    assert not any(c in text for text in stored for c in character if c not in "[31m")
    assert appointment.last_name.endswith("Lovelace")


def test_a_character_that_shows_nothing_between_words_leaves_one_space(booked):
    appointment = booked(first_name="Ann \u200b Marie", last_name="Lee\u061c")
    assert (appointment.first_name, appointment.last_name) == ("Ann Marie", "Lee")


@pytest.mark.parametrize(
    ("first", "last"),
    [
        ("Zoë", "Brontë"),
        ("José-María", "Ñúñez"),
        ("Aoife", "O'Brien"),
        ("小龙", "李"),
        ("Ольга", "Достоевская"),
        ("محمد", "الأحمد"),
        ("דוד", "כהן"),
        ("Ngozi 🌻", "Okafor-Smith"),
        ("Thandiwe", "👩🏽‍⚕️"),
        ("अनुष्का", "शर्मा"),  # Devanagari keeps its joiners
    ],
)
def test_names_in_every_script_are_accepted_and_stored_intact(booked, client, first, last):
    appointment = booked(first_name=first, last_name=last, message=f"{first} {last} ✓")
    assert (appointment.first_name, appointment.last_name) == (first, last)
    assert appointment.message == f"{first} {last} ✓"
    page = client.get(appointment.patient_url).content.decode()
    assert escape(first) in page


@pytest.mark.parametrize("field", ["first_name", "last_name"])
@pytest.mark.parametrize("newline", ["\r\n", "\n", "\r", "\u2028", "\x85"])
def test_line_breaks_in_a_name_become_one_space(booked, field, newline):
    # A name with an address in it is refused outright (test_spam_and_limits.py).
    appointment = booked(**{field: f"Ada{newline}Bcc: Eve"})
    assert getattr(appointment, field) == "Ada Bcc: Eve"


def test_line_breaks_in_the_message_are_kept_as_plain_newlines(booked):
    appointment = booked(message="Worse at night.\r\nBetter after a walk.\rThanks")
    assert appointment.message == "Worse at night.\nBetter after a walk.\nThanks"


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("email", "ada@example.com\r\nBcc: evil@example.com", EMAIL_HELP),
        ("email", "ada@exam\nple.com", EMAIL_HELP),
        ("phone", "212 555\r\n0123 x", PHONE_HELP),
        ("slot", "2027-01-11T10:00:00-05:00\r\nX: y", "Choose one of the times listed."),
        ("service", "initial-consultation\r\n", "Choose one of the treatments listed."),
        ("concern", "sciatica\r\n", "Choose one of the kinds of back pain listed"),
    ],
)
def test_line_breaks_in_other_fields_are_refused(client, request_data, field, value, message):
    refused(client.post(BOOK, request_data(**{field: value})), message)


@pytest.mark.parametrize(
    "email",
    [
        "plainaddress",
        "@example.com",
        "ada@",
        "ada@@example.com",
        "ada@example..com",
        "ada@-example.com",
        "ada example@example.com",
        "ada@example.com.",
        "ada@localhost",
        "ada@[127.0.0.1]",
        "ada@[IPv6:::1]",
        "ada@example.com,bob@example.com",
        "ada@example.com;bob@example.com",
        "Ada <ada@example.com>",
    ],
)
def test_invalid_and_edge_case_emails_are_refused(client, request_data, email):
    refused(client.post(BOOK, request_data(email=email)), EMAIL_HELP)


@pytest.mark.parametrize(
    "email",
    [
        "ada.lovelace+back@example.com",
        "o'brien@example.ie",
        '"ada.l"@example.com',
        "ada@xn--bcher-kva.example",
        "ADA@EXAMPLE.COM",
    ],
)
def test_unusual_but_real_emails_are_accepted_as_typed(booked, email):
    assert booked(email=f"  {email} ").email == email


@pytest.mark.parametrize(
    "phone",
    [
        "555-0123",  # no area code
        "+1 000 000 0000",
        "+999 123 456",
        "(212) 555-012",
        "+1 212 555 0123; DROP TABLE",
        "١٢٣٤٥٦٧٨٩٠",  # digits, but not a number anywhere
        "0" * 32,
    ],
)
def test_invalid_phones_are_refused(client, request_data, phone):
    refused(client.post(BOOK, request_data(phone=phone)), PHONE_HELP)


@pytest.mark.parametrize(
    ("typed", "stored"),
    [
        ("+44 20 7946 0000", "+442079460000"),
        ("+1 (212) 555-0123 ext. 7", "+12125550123 ext. 7"),  # the extension is kept
        ("  212.555.0123  ", "+12125550123"),
        ("＋１ ２１２ ５５５ ０１２３", "+12125550123"),  # full-width digits from a phone keyboard
        ("tel:+1-212-555-0123", "+12125550123"),
    ],
)
def test_edge_case_phones_are_stored_in_international_format(booked, typed, stored):
    assert booked(phone=typed).phone == stored


def test_form_fields_named_in_the_contract_are_all_tried_here():
    # If the contract gains a field, this suite must learn about it.
    assert set(FORM_FIELDS) == {*REQUIRED, "practitioner", "is_new_patient", "message", "website"}
