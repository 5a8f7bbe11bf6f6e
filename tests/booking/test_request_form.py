"""The request form at /book/, through the public contract: its page, its fields, its flow."""

import importlib
import re
from datetime import datetime, time, timedelta
from html import unescape

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from articles.models import Article
from booking.models import Appointment, Clinic, ClinicClosure, StatusChange
from tests.booking.conftest import CONTRACT_FIELDS, local, next_weekday, page


@pytest.fixture
def book_url():
    return reverse("booking:request")


def test_first_visit_shows_the_next_days_with_open_times(client, book_url, service, practitioner):
    response = client.get(book_url)
    assert response.status_code == 200
    form = page(response)
    days = form.links_of("day")
    assert len(days) == 8
    assert days[0][0].startswith(("Mon", "Tue", "Wed", "Thu", "Fri", "Sat"))
    # The first day's open times are radio buttons of the request form.
    first_time = form.options["slot"][0]
    assert first_time.endswith(("-05:00", "-04:00"))
    # The first time on the grid, in working hours, that the notice allows (on the first
    # day it is later than opening time when the notice ends in the morning).
    start = datetime.fromisoformat(first_time)
    assert start.minute % 15 == 0
    assert time(9) <= start.time() < time(17)
    assert start >= timezone.now() + Clinic.load().minimum_notice
    assert start - timedelta(minutes=15) < timezone.now() + Clinic.load().minimum_notice or (
        start.time() == time(9)
    )


def test_the_form_sends_every_field_of_the_contract(client, book_url, service, practitioner):
    form = page(client.get(book_url))
    assert set(form.inputs) >= set(CONTRACT_FIELDS)
    assert form.fields["service"] == service.slug
    assert form.fields["practitioner"] == ""  # any practitioner


def test_fields_have_the_right_types_and_autocomplete(client, book_url, service, practitioner):
    inputs = page(client.get(book_url)).inputs
    assert inputs["first_name"]["autocomplete"] == "given-name"
    assert inputs["last_name"]["autocomplete"] == "family-name"
    assert (inputs["email"]["type"], inputs["email"]["autocomplete"]) == ("email", "email")
    assert (inputs["phone"]["type"], inputs["phone"]["autocomplete"]) == ("tel", "tel")
    assert inputs["consent"]["type"] == "checkbox"
    # After Back, the browser would tick the time now at the place of the one booked.
    assert inputs["slot"]["autocomplete"] == "off"


def test_honeypot_is_hidden_from_people_and_labelled(client, book_url, service, practitioner):
    html = client.get(book_url).content.decode()
    honeypot = page(client.get(book_url)).inputs["website"]
    assert honeypot["tabindex"] == "-1"
    assert honeypot["autocomplete"] == "off"
    wrapper = re.search(
        r'<div class="visually-hidden" aria-hidden="true">\s*<label[^>]*>(.*?)<', html
    )
    assert wrapper and wrapper.group(1) == "Leave empty"


# The signs that back pain cannot wait for an acupuncturist (clinical guidelines, as the
# articles give them).
RED_FLAGS = [
    "new loss of bladder or bowel control",
    "numbness in the groin, buttocks or inner thighs",
    "weakness in your legs that is getting worse",
    "a major fall, accident or other injury",
    "a fever, or weight loss you cannot explain",
    "a history of cancer",
]


def test_red_flag_notice_comes_just_before_the_concern(client, book_url, service, practitioner):
    html = client.get(book_url).content.decode()
    notice = html.index("needs urgent care, not a booking")
    concern = html.index('name="concern"')
    assert html.index("Your back pain") < notice < concern
    for sign in RED_FLAGS:
        assert sign in html[notice:concern]
    assert "Call 911 or go to the nearest emergency department" in html[notice:concern]


def test_each_treatment_says_what_it_is_on_its_own_card(
    client, book_url, service, short_service, practitioner
):
    service.description = "For new patients: we examine you and give a first treatment."
    service.save()
    short_service.description = "Ask us your questions first, at no cost."
    short_service.save()
    choices = dict(page(client.get(book_url)).links_of("choice"))
    first_visit = next(label for label in choices if service.name in label)
    chat = next(label for label in choices if short_service.name in label)
    assert service.description in first_visit and short_service.description not in first_visit
    assert short_service.description in chat and service.description not in chat


def test_a_concern_in_the_address_is_pre_selected(client, book_url, service, practitioner):
    form = page(client.get(book_url, {"concern": "spinal_stenosis"}))
    assert form.fields["concern"] == "spinal_stenosis"
    # And kept when the patient picks another day.
    day_link = form.links_of("day")[1][1]
    assert "concern=spinal_stenosis" in day_link
    assert page(client.get(book_url, {"concern": "not-a-concern"})).fields["concern"] == ""


def test_choosing_a_service_practitioner_and_day_by_links(
    client, book_url, service, short_service, practitioner, other_practitioner
):
    start = page(client.get(book_url))
    chat = page(client.get(start.link("Phone chat")))
    assert chat.fields["service"] == short_service.slug
    with_samuel = page(client.get(chat.link("Samuel Okafor")))
    assert with_samuel.fields["practitioner"] == other_practitioner.slug
    label, href = with_samuel.links_of("day")[2]
    third_day = page(client.get(href))
    assert third_day.fields["service"] == short_service.slug
    assert third_day.fields["practitioner"] == other_practitioner.slug
    day = href.split("day=")[1][:10]
    assert all(value.startswith(day) for value in third_day.options["slot"])
    # The 15-minute chat fits until 16:45.
    assert third_day.options["slot"][-1][11:16] in {"16:45", "12:45"}


def test_later_days_page_on_without_javascript(client, book_url, service, practitioner):
    first = page(client.get(book_url))
    later = page(client.get(first.link("Later days")))
    first_days = [label for label, _ in first.links_of("day")]
    later_days = [label for label, _ in later.links_of("day")]
    assert not set(first_days) & set(later_days)
    assert later.link("Earlier days")


def test_no_javascript_flow_from_first_visit_to_the_request_page(
    client, book_url, service, practitioner, other_practitioner, seconds_pass
):
    start = page(client.get(book_url))
    chosen_day = page(client.get(start.links_of("day")[1][1]))
    data = dict(chosen_day.fields)
    data.update(
        slot=chosen_day.options["slot"][4],
        first_name="Grace",
        last_name="Hopper",
        email="grace@example.com",
        phone="212 555 0187",
        concern="chronic_pain",
        consent="on",
    )
    seconds_pass(20)  # a person reads and types
    response = client.post(book_url, data)
    assert response.status_code == 302
    appointment = Appointment.objects.get()
    assert response.url == appointment.patient_url
    assert appointment.start == datetime.fromisoformat(data["slot"])
    request_page = client.get(response.url).content.decode()
    assert appointment.reference in request_page
    assert "Grace" in request_page
    assert appointment.status == Appointment.Status.REQUESTED
    assert appointment.phone == "+12125550187"
    assert appointment.concern == "chronic_pain"
    assert appointment.is_new_patient is True
    assert appointment.practitioner in (practitioner, other_practitioner)
    assert appointment.end - appointment.start == timedelta(minutes=75)
    assert StatusChange.objects.get().to_status == "requested"


def test_booking_records_consent_and_the_article_the_patient_came_from(
    client, book_url, request_data, published_article
):
    form = page(client.get(book_url, {"from": published_article.slug}))
    assert form.fields["source_article"] == published_article.slug
    response = client.post(book_url, request_data(source_article=published_article.slug))
    assert response.status_code == 302
    appointment = Appointment.objects.get()
    assert appointment.source_article == published_article
    assert appointment.consent_version
    assert appointment.consent_at is not None
    assert abs(appointment.consent_at - appointment.created_at) < timedelta(seconds=5)


def test_an_article_with_a_long_address_is_recorded(
    client, book_url, request_data, published_article
):
    # An address made from a whole title can be far longer than a short slug.
    published_article.slug = "how-acupuncture-may-help-long-standing-lower-back-pain-" + "x" * 80
    published_article.save()
    form = page(client.get(book_url, {"from": published_article.slug}))
    assert form.fields["source_article"] == published_article.slug
    client.post(book_url, request_data(source_article=published_article.slug))
    assert Appointment.objects.get().source_article == published_article


def test_an_unpublished_article_is_not_recorded(client, book_url, request_data, published_article):
    published_article.status = Article.Status.DRAFT
    published_article.save()
    client.post(book_url, request_data(source_article=published_article.slug))
    assert Appointment.objects.get().source_article is None


@pytest.mark.parametrize(
    ("typed", "stored"),
    [
        ("(212) 555-0123", "+12125550123"),
        ("212.555.0123", "+12125550123"),
        ("+1 212 555 0123", "+12125550123"),
        ("+44 20 7946 0000", "+442079460000"),
        # An office number's extension is kept: without it the call reaches reception.
        ("(212) 555-0143 x12", "+12125550143 ext. 12"),
        ("212-555-0143 ext. 4410", "+12125550143 ext. 4410"),
    ],
)
def test_phone_numbers_are_stored_in_international_format(
    client, book_url, request_data, typed, stored
):
    client.post(book_url, request_data(phone=typed))
    appointment = Appointment.objects.get()
    assert appointment.phone == stored
    assert appointment.phone_ending == stored.split(" ")[0][-4:]  # said in phone chats' emails


FIELD_ERRORS = [
    ("first_name", "", "Enter your first name."),
    ("first_name", "x" * 101, "Your first name can be at most 100 characters long."),
    ("last_name", "", "Enter your last name."),
    ("last_name", "x" * 101, "Your last name can be at most 100 characters long."),
    ("email", "", "Enter your email address."),
    ("email", "ada@", "Enter an email address like name@example.com."),
    ("phone", "", "Enter a phone number we can call you on."),
    ("phone", "12345", "Enter a phone number like (212) 555-0123"),
    ("phone", "call me maybe", "Enter a phone number like (212) 555-0123"),
    ("concern", "", "Choose what best describes your back pain, or “Other”."),
    ("concern", "headache", "Choose one of the kinds of back pain listed, or “Other”."),
    ("message", "x" * 2001, "Please keep your message under 2,000 characters."),
    ("consent", None, "Tick the box to agree"),
    ("slot", None, "Choose a time for your appointment."),
    ("slot", "next tuesday", "Choose one of the times listed."),
    ("slot", "2027-01-11T10:00:00", "Choose one of the times listed."),
    ("slot", "0001-01-01T00:00:00+14:00", "Choose one of the times listed."),
]


@pytest.mark.parametrize(("field", "value", "message"), FIELD_ERRORS)
def test_each_field_explains_what_is_wrong(client, book_url, request_data, field, value, message):
    response = client.post(book_url, request_data(**{field: value}))
    assert response.status_code == 200
    html = response.content.decode()
    assert message in html
    assert Appointment.objects.count() == 0
    # Listed in the summary with a link to the field, and tied to the field for screen readers.
    summary = html[
        html.index('id="error-summary"') : html.index("</ul>", html.index("error-summary"))
    ]
    assert message.split("“")[0] in summary
    error_id = f"id_{field}_error"
    assert f'id="{error_id}"' in html
    assert re.search(rf'aria-describedby="[^"]*{error_id}', html)
    assert "autofocus" in html


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("service", "", "Choose a treatment."),
        ("service", "massage", "Choose one of the treatments listed."),
        ("practitioner", "nobody", "Choose one of our practitioners, or any practitioner."),
    ],
)
def test_a_tampered_choice_is_explained(client, book_url, request_data, field, value, message):
    response = client.post(book_url, request_data(**{field: value}))
    assert message in response.content.decode()
    assert Appointment.objects.count() == 0


def test_the_first_field_in_error_gets_the_focus(client, book_url, request_data):
    html = client.post(book_url, request_data(email="", phone="")).content.decode()
    focused = re.findall(r"<input[^>]*autofocus[^>]*>", html)
    assert len(focused) == 1
    assert 'name="email"' in focused[0]


def test_a_refused_form_keeps_what_the_patient_typed(client, book_url, request_data):
    form = page(client.post(book_url, request_data(email="not-an-email")))
    assert form.fields["first_name"] == "Ada"
    assert form.fields["phone"] == "(212) 555-0123"
    assert form.fields["slot"] == request_data()["slot"]


# A refused time: why, and the nearest open times offered instead.


def test_a_taken_time_is_refused_with_the_nearest_open_times(
    client, book_url, request_data, make_appointment, monday
):
    make_appointment(local(monday, 10))
    response = client.post(book_url, request_data())
    html = response.content.decode()
    assert "Sorry, that time with Maya Chen, L.Ac. has just been taken." in html
    assert "The nearest open times are:" in html
    assert "11:15 AM" in html
    offered = page(response).options["slot"]
    assert offered[0] == local(monday, 11, 15).isoformat()
    assert Appointment.objects.count() == 1
    # The nearest ones are listed first and not again in the day's own list, which says so
    # (without "other", a day missing its first times read as a full morning).
    assert f"Other open times on {monday:%A, %B} {monday.day}" in html


@pytest.mark.parametrize(
    ("when", "message"),
    [
        (lambda monday: local(monday, 10) - timedelta(days=30), "That time has already passed."),
        (None, "Online requests need at least 24 hours' notice."),
        (lambda monday: local(monday, 10) + timedelta(days=70), "up to 60 days ahead"),
        (lambda monday: local(monday, 10, 10), "Appointments start every 15 minutes"),
        (lambda monday: local(monday, 20), "Maya Chen, L.Ac. does not see patients at that time."),
    ],
)
def test_an_unbookable_time_is_refused_with_the_reason(
    client, book_url, request_data, monday, when, message
):
    from django.utils import timezone

    start = when(monday) if when else timezone.localtime() + timedelta(hours=3)
    start = start.replace(second=0, microsecond=0)
    if when is None:  # on the grid, so that only the notice refuses it
        start = start.replace(minute=start.minute // 15 * 15)
    response = client.post(book_url, request_data(slot=start.isoformat()))
    html = unescape(response.content.decode())
    assert message in html
    assert "The nearest open times are:" in html
    assert Appointment.objects.count() == 0


def test_a_time_on_a_closure_day_is_refused(client, book_url, request_data, monday):
    ClinicClosure.objects.create(start_date=monday, end_date=monday, reason="Staff training")
    html = client.post(book_url, request_data()).content.decode()
    assert "The clinic is closed that day (Staff training)." in html


def test_a_time_during_time_off_is_refused(client, book_url, request_data, practitioner, monday):
    practitioner.time_off.create(start=local(monday, 9), end=local(monday, 13))
    html = client.post(book_url, request_data()).content.decode()
    assert "Maya Chen, L.Ac. is away at that time." in html
    assert "1:00 PM" in html  # the nearest open time after the time off


def test_any_practitioner_books_whoever_is_free(
    client, book_url, request_data, make_appointment, other_practitioner, monday
):
    make_appointment(local(monday, 10))
    response = client.post(book_url, request_data(practitioner=""))
    assert response.status_code == 302
    booked = Appointment.objects.get(
        email="ada@example.com",
        status="requested",
        start=local(monday, 10),
        practitioner=other_practitioner,
    )
    assert booked.first_name == "Ada"


def test_form_page_queries_stay_few_whatever_the_bookings(
    client,
    book_url,
    service,
    practitioner,
    other_practitioner,
    make_appointment,
    monday,
    clinic,
    django_assert_max_num_queries,
):
    clinic.booking_horizon_days = 365
    clinic.save()
    for week in range(12):
        make_appointment(local(monday + timedelta(weeks=week), 10))
        make_appointment(local(monday + timedelta(weeks=week), 14), practitioner=other_practitioner)
    # clinic, services, practitioners, and availability's three
    with django_assert_max_num_queries(6):
        response = client.get(book_url)
    assert response.status_code == 200
    with django_assert_max_num_queries(6):
        client.get(book_url, {"practitioner": practitioner.slug, "day": monday.isoformat()})


def test_form_page_is_never_cached(client, book_url, service, practitioner):
    assert "no-store" in client.get(book_url)["Cache-Control"]


def test_without_services_the_page_says_to_call(client, book_url, clinic):
    html = client.get(book_url).content.decode()
    assert "Online requests are not open at the moment." in html
    assert clinic.phone in html


def test_a_day_without_open_times_shows_the_next_one(client, book_url, service, practitioner):
    sunday = next_weekday(6)
    form = page(client.get(book_url, {"day": sunday.isoformat()}))
    monday = sunday + timedelta(days=1)
    assert form.options["slot"][0] == local(monday, 9).isoformat()
    assert form.fields["day"] == monday.isoformat()


def test_changing_practitioner_keeps_the_chosen_day(
    client, book_url, service, practitioner, other_practitioner, monday
):
    chosen = page(client.get(book_url, {"day": monday.isoformat()}))
    with_samuel = page(client.get(chosen.link("Samuel Okafor")))
    assert with_samuel.fields["day"] == monday.isoformat()
    assert with_samuel.fields["practitioner"] == other_practitioner.slug


def test_a_booking_runs_the_same_few_queries_whatever_the_bookings(
    client,
    book_url,
    request_data,
    monday,
    make_appointment,
    fill_calendar,
    django_capture_on_commit_callbacks,
):
    """Sending a request costs a fixed number of queries, emails sent after it included."""

    def book(at):
        # As a new visitor: a browser that has just booked also looks up its request.
        client.cookies.pop("recent_request", None)
        with (
            CaptureQueriesContext(connection) as queries,
            django_capture_on_commit_callbacks(execute=True),
        ):
            response = client.post(
                book_url, request_data(slot=at.isoformat(), email=f"ada{at:%H%M}@example.com")
            )
        assert response.status_code == 302
        return [query["sql"] for query in queries.captured_queries]

    for week in range(1, 6):
        make_appointment(local(monday + timedelta(weeks=week), 10))
    client.get(book_url)  # the patient's form, as ever: it caches what is offered
    book(local(monday, 12))  # the first booking of the day reads who works when, once
    few = book(local(monday, 10))
    fill_calendar(local(monday + timedelta(weeks=6), 9), 495)  # after the weekly ones
    many = book(local(monday, 14))
    assert len(many) == len(few), "\n".join(many)
    # Its own request, the day's appointments and time off, the transaction (the lock on
    # PostgreSQL, the overlap check, three inserts), then the two emails read once, each
    # claimed, its appointment read again as it is now, and marked sent; plus the test's
    # own savepoint around the transaction.
    assert len(few) <= 16, "\n".join(few)
    assert Appointment.objects.filter(email__startswith="ada1400").exists()


def test_after_a_practitioner_is_withdrawn_the_form_sends_what_it_shows(
    client, request_data, practitioner, other_practitioner
):
    data = request_data()  # with Maya, who stops taking requests meanwhile
    practitioner.is_active = False
    practitioner.save()
    first = client.post("/book/", data)
    assert first.status_code == 200
    assert "Choose one of our practitioners, or any practitioner." in first.text
    shown = page(first)
    assert shown.fields["practitioner"] == ""  # "Any practitioner", as the chooser shows

    # The patient ticks an offered time and sends again: it is booked.
    again = client.post("/book/", dict(shown.fields, slot=shown.options["slot"][0]))

    assert again.status_code == 302
    assert Appointment.objects.get().practitioner == other_practitioner


def test_the_country_is_kept_in_capitals(clinic):
    # phonenumbers reads a local number by the clinic's country, and only knows "US".
    clinic.country = "us"
    clinic.full_clean()
    clinic.save()
    clinic.refresh_from_db()
    assert clinic.country == "US"


def test_a_country_saved_in_small_letters_still_reads_local_numbers(clinic, client, request_data):
    clinic.country = "us"  # saved without the admin's checks
    clinic.save()
    response = client.post("/book/", request_data(phone="(212) 555-0123"))
    assert response.status_code == 302


def test_a_country_an_earlier_version_saved_in_small_letters_is_put_in_capitals(clinic):
    from django.apps import apps

    migration = importlib.import_module("booking.migrations.0011_clinic_country_in_capitals")
    Clinic.objects.update(country="us")
    migration.country_in_capitals(apps, None)
    assert Clinic.objects.get().country == "US"
