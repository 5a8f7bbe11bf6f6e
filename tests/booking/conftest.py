"""Fixtures for the patient side of booking: dates, times and a filled request form."""

import time
from datetime import datetime, timedelta
from html.parser import HTMLParser
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from booking.forms import issue_form_token
from tests.conftest import ADA_TYPES, numbered_appointment

NY = ZoneInfo("America/New_York")

# Every field of the booking form in the public contract (DESIGN.md), the honeypot included.
CONTRACT_FIELDS = (
    "service",
    "practitioner",
    "slot",
    "first_name",
    "last_name",
    "email",
    "phone",
    "is_new_patient",
    "concern",
    "message",
    "consent",
    "website",
)


def local(day, hour, minute=0):
    """A clinic-time datetime on `day`."""
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=NY)


def next_weekday(weekday, weeks_ahead=1):
    """A date `weeks_ahead` weeks from now falling on `weekday` (0 is Monday)."""
    today = timezone.localdate()
    return today + timedelta(days=(weekday - today.weekday()) % 7 + 7 * weeks_ahead)


@pytest.fixture
def monday():
    """A Monday one to two weeks ahead: inside the notice and the horizon."""
    return next_weekday(0)


@pytest.fixture
def booked(make_appointment, monday):
    """Ada's request for Monday 10:00, with details her own page must not show."""
    return make_appointment(
        local(monday, 10),
        first_name="Ada",
        last_name="Lovelace",
        email="ada.lovelace@example.com",
        phone="+12125550123",
        message="Pain shoots down my left leg.",
    )


@pytest.fixture
def fill_calendar(service, practitioner):
    """`count` confirmed appointments of 75 minutes, six a day from `first` (bulk_create)."""
    from booking.models import Appointment

    def fill(first, count):
        Appointment.objects.bulk_create(
            numbered_appointment(
                i,
                service=service,
                practitioner=practitioner,
                start=first + timedelta(days=i // 6, minutes=75 * (i % 6)),
            )
            for i in range(count)
        )

    return fill


@pytest.fixture
def served_a_while_ago():
    """A form token for a form served ten seconds ago, as a person would send it."""
    return lambda: issue_form_token(time.time() - 10)


@pytest.fixture
def request_data(service, practitioner, served_a_while_ago, monday):
    """What a patient sends for Monday 10:00 with the practitioner; override any field."""

    def data(**fields):
        values = {
            "service": service.slug,
            "practitioner": practitioner.slug,
            "slot": local(monday, 10).isoformat(),
            **ADA_TYPES,
            "form_token": served_a_while_ago(),
        }
        values.update(fields)
        return {name: value for name, value in values.items() if value is not None}

    return data


class Page(HTMLParser):
    """What a browser without JavaScript sees of a page: its links and its booking form."""

    def __init__(self, html):
        super().__init__(convert_charrefs=True)
        self.links = []  # (class, href, text, attributes)
        self.fields = {}  # what the form sends as served: name -> value
        self.options = {}  # radio and select choices: name -> [values]
        self.inputs = {}  # name -> attributes of the first such input
        self._form = None
        self._link = None
        self._select = None
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "form":
            self._form = attrs.get("id")
        elif tag == "a":
            self._link = [attrs.get("class", ""), attrs.get("href", ""), "", attrs]
        elif self._form == "booking-form" and tag in ("input", "select", "textarea"):
            self._field(tag, attrs)
        elif tag == "option" and self._select:
            self.options[self._select].append(attrs.get("value", ""))
            if "selected" in attrs:
                self.fields[self._select] = attrs.get("value", "")

    def _field(self, tag, attrs):
        name = attrs.get("name")
        if not name:
            return
        self.inputs.setdefault(name, attrs)
        kind = attrs.get("type", "text")
        if tag == "select":
            self._select = name
            self.options.setdefault(name, [])
        elif kind == "radio":
            self.options.setdefault(name, []).append(attrs.get("value", ""))
            if "checked" in attrs:
                self.fields[name] = attrs.get("value", "")
        elif kind == "checkbox":
            if "checked" in attrs:
                self.fields[name] = attrs.get("value", "on")
        elif kind != "submit":
            self.fields[name] = attrs.get("value", "")

    def handle_startendtag(self, tag, attrs):
        self.handle_starttag(tag, attrs)

    def handle_data(self, data):
        if self._link is not None:
            self._link[2] += data

    def handle_endtag(self, tag):
        if tag == "form":
            self._form = None
        elif tag == "a" and self._link is not None:
            self._link[2] = " ".join(self._link[2].split())
            self.links.append(tuple(self._link))
            self._link = None
        elif tag == "select":
            self._select = None

    def link(self, text):
        """The address of the first link whose text contains `text`."""
        return next(href for _, href, label, _ in self.links if text in label)

    def links_of(self, css_class):
        return [
            (label, href) for classes, href, label, _ in self.links if css_class in classes.split()
        ]


def page(response):
    return Page(response.content.decode())


@pytest.fixture
def seconds_pass(monkeypatch):
    """Let time pass for the form's fill-time check without waiting for it."""
    import booking.forms

    real_time = time.time
    passed = [0.0]

    class Clock:
        @staticmethod
        def time():
            return real_time() + passed[0]

    monkeypatch.setattr(booking.forms, "time", Clock)

    def wait(seconds):
        passed[0] += seconds

    return wait
