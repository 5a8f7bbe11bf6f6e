"""Staff of every kind, signed in to the admin, and appointments to work on."""

from datetime import datetime, time, timedelta
from html.parser import HTMLParser

import pytest
from django.contrib.auth.models import Group, User
from django.test import Client
from django.urls import reverse
from django.utils import timezone

CHANGELIST = "admin:booking_appointment_changelist"


def local(day, hour, minute=0):
    """An aware moment in the clinic's time zone."""
    return datetime.combine(day, time(hour, minute), tzinfo=timezone.get_current_timezone())


def next_monday(weeks_ahead=1):
    today = timezone.localdate()
    return today + timedelta(days=7 - today.weekday() + 7 * (weeks_ahead - 1))


def staff(username, group=None):
    # Signed in with force_login: no password to hash (hashing is slow on purpose).
    user = User.objects.create_user(username, f"{username}@example.com", is_staff=True)
    if group:
        user.groups.add(Group.objects.get(name=group))
    return user


def signed_in(user):
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def front_desk(db):
    return staff("frontdesk", "Front desk")


@pytest.fixture
def front_desk_client(front_desk):
    return signed_in(front_desk)


@pytest.fixture
def practitioner_user(practitioner):
    """Maya Chen's own staff account, in the Practitioner group."""
    user = staff("maya", "Practitioner")
    practitioner.user = user
    practitioner.save()
    return user


@pytest.fixture
def practitioner_client(practitioner_user):
    return signed_in(practitioner_user)


@pytest.fixture
def unlinked_practitioner_client(db):
    """Someone in the Practitioner group whose account no practitioner points to."""
    return signed_in(staff("newcomer", "Practitioner"))


@pytest.fixture
def content_editor(db):
    return staff("editor", "Content editor")


@pytest.fixture
def content_editor_client(content_editor):
    return signed_in(content_editor)


@pytest.fixture
def monday():
    return next_monday(2)


@pytest.fixture
def request_at(make_appointment, monday):
    """A patient's online request on the coming Monday (or another day) at a local time."""

    def make(hour, minute=0, *, day=None, **fields):
        return make_appointment(local(day or monday, hour, minute), **fields)

    return make


@pytest.fixture
def at():
    """`at(day, hour, minute=0)`: an aware moment in the clinic's time zone."""
    return local


@pytest.fixture
def run_action():
    """Choose appointments in the list, pick an action and press Run, as staff do."""

    def run(client, action, appointments, **extra):
        data = {
            "action": action,
            "index": "0",
            "select_across": "0",
            "_selected_action": [str(a.pk) for a in appointments],
            **extra,
        }
        # The decline and cancel pages post back without "index" (None leaves a key out).
        data = {key: value for key, value in data.items() if value is not None}
        return client.post(reverse(CHANGELIST), data)

    return run


class _FormReader(HTMLParser):
    """The values a browser would submit from one form of a page."""

    def __init__(self, form_id):
        super().__init__()
        self.form_id = form_id
        self.inside = False
        self.data = []
        self._textarea = None
        self._select = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "form":
            self.inside = attrs.get("id") == self.form_id
        if not self.inside or "name" not in attrs and tag != "option":
            return
        if tag == "input":
            kind = attrs.get("type", "text")
            if kind in ("checkbox", "radio") and "checked" not in attrs:
                return
            if kind not in ("submit", "button", "file"):
                self.data.append(
                    (attrs["name"], attrs.get("value", "on" if kind == "checkbox" else ""))
                )
        elif tag == "textarea":
            self._textarea = [attrs["name"], ""]
        elif tag == "select":
            self._select = attrs["name"]
        elif tag == "option" and self._select and "selected" in attrs:
            self.data.append((self._select, attrs.get("value", "")))

    def handle_data(self, data):
        if self._textarea is not None:
            self._textarea[1] += data

    def handle_endtag(self, tag):
        if tag == "form":
            self.inside = False
        elif tag == "textarea" and self._textarea is not None:
            # Browsers drop the newline that follows <textarea>.
            name, value = self._textarea
            self.data.append((name, value.removeprefix("\n").removeprefix("\r\n")))
            self._textarea = None
        elif tag == "select":
            self._select = None


@pytest.fixture
def form_of():
    """`form_of(response, form_id)`: the form's fields as the browser would post them."""

    def read(response, form_id="appointment_form"):
        reader = _FormReader(form_id)
        reader.feed(response.content.decode())
        return dict(reader.data)

    return read
