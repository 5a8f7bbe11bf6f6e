"""The consultation request form: what a patient may send, and the words for what is wrong."""

import re
import secrets
import time
from datetime import UTC, datetime

import phonenumbers
from django import forms
from django.core import signing
from django.db import IntegrityError
from django.utils import timezone

from articles.models import Article
from booking.availability import Refusal, SlotUnavailable, check_slot, nearest_open_slots
from booking.models import Appointment, Clinic, Concern, SlotTaken

# Bump when the consent wording below changes: each request records the version agreed to.
CONSENT_VERSION = "2026-11"
CONSENT_LABEL = (
    "I agree that the clinic may keep the details on this form to arrange my consultation "
    "and to contact me about it."
)
CONSENT_HELP = (
    "We use them only for your care, never for marketing, and delete old requests. "
    "You can ask us to delete them at any time."
)

# A person needs longer than this to choose a time and type their details (DESIGN.md).
MINIMUM_FILL_SECONDS = 3
FORM_TOKEN_SALT = "booking.request-form"  # noqa: S105 (a signing salt, not a secret)

# "Any practitioner" may lose a race for one practitioner and take another who is free.
BOOKING_ATTEMPTS = 3

DEFAULT_PHONE_REGION = "US"


# Characters nobody means to type: control characters, the direction marks and overrides
# that make a name read as something else in the admin and in staff emails' subjects, and
# the ones that show nothing at all (zero-width space, soft hyphen, word joiner, byte-order
# mark), of which a name could be made that reads as none. (Joiners stay: some scripts and
# emoji need them.)
INVISIBLE = dict.fromkeys(
    [
        *range(0x00, 0x20),
        *range(0x7F, 0xA0),
        0xAD,
        0x061C,
        0x200B,
        0x200E,
        0x200F,
        *range(0x202A, 0x202F),
        *range(0x2060, 0x2065),
        *range(0x2066, 0x206A),
        0xFEFF,
    ]
)


# The longest article address a request can name (the article a patient came from).
ARTICLE_SLUG_LENGTH = Article._meta.get_field("slug").max_length


class PlainTextField(forms.CharField):
    """Text as a person means it: invisible characters dropped; one line unless `multiline`.

    In one line, line breaks and tabs (from a paste, or an attack on email headers) become
    one space; in several, every line break becomes a plain newline.
    """

    def __init__(self, *, multiline=False, **kwargs):
        self.multiline = multiline
        super().__init__(**kwargs)

    def to_python(self, value):
        value = super().to_python(value)
        if self.multiline:
            lines = value.replace("\t", " ").splitlines()
            return "\n".join(line.translate(INVISIBLE) for line in lines).strip()
        # Line breaks and tabs become spaces first (they are among INVISIBLE), then what
        # shows nothing goes, then the words are joined again: "Ann \u200b Lee" is "Ann Lee".
        return " ".join(" ".join(value.split()).translate(INVISIBLE).split())


# A web or email address: a scheme, "www.", an @, or a dotted domain, typed in lower case
# as addresses are ("pills.example") or ending in a common top-level domain in any case
# ("Pills.Com"). Initials, abbreviations and a capital after a dot ("J.R.", "St. John",
# "St.John") are names. (Markup is only text: every page and email escapes it.)
COMMON_TOP_LEVEL_DOMAINS = "com|net|org|info|biz|io|co|me|ly|ru|cn|xyz|top|shop|site|online|app"
ADDRESS_IN_NAME = re.compile(
    rf"(?i:://|www\.|@|[\w-]{{2,}}\.(?:{COMMON_TOP_LEVEL_DOMAINS})\b)|[\w-]{{2,}}\.[a-z]{{2,}}\b"
)


def validate_name(value):
    """A name opens the email sent to the address typed in: it must never carry a link."""
    if ADDRESS_IN_NAME.search(value):
        raise forms.ValidationError(
            "Enter your name only, without a web or email address.", code="address"
        )


def issue_form_token(issued_at=None):
    """A signed stamp for one served form: when it was served, and a key for its submission."""
    issued_at = time.time() if issued_at is None else issued_at
    return signing.dumps(
        {"key": secrets.token_urlsafe(24), "at": round(issued_at, 3)}, salt=FORM_TOKEN_SALT
    )


def read_form_token(token):
    """(submission key, time served) from a form token, or None if it is not ours."""
    try:
        data = signing.loads(token or "", salt=FORM_TOKEN_SALT)
        return str(data["key"]), float(data["at"])
    except (signing.BadSignature, KeyError, TypeError, ValueError):
        return None


_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def slot_label(slot, *, with_day=True):
    """A time as a patient reads it: "Mon, Nov 30, 9:15 AM" (clinic time).

    Written out rather than through django.utils.dateformat ("D, M j, g:i A"), which cost
    a fifth of the booking page for the dozens of times it offers; the site is English.
    """
    local = slot.local_start
    time = f"{local.hour % 12 or 12}:{local.minute:02d} {'AM' if local.hour < 12 else 'PM'}"
    if not with_day:
        return time
    return f"{_DAYS[local.weekday()]}, {_MONTHS[local.month - 1]} {local.day}, {time}"


def refusal_message(refusal, *, practitioner=None, clinic=None):
    """Why a time cannot be booked, in the patient's words."""
    clinic = clinic or Clinic.load()
    call_us = f" please call us on {clinic.phone}" if clinic.phone else " please call us"
    who = practitioner.name if practitioner else None
    match refusal.reason:
        case Refusal.PAST:
            return "That time has already passed."
        case Refusal.TOO_SOON:
            return (
                f"Online requests need at least {clinic.minimum_notice_hours} hours' notice. "
                f"For an appointment sooner than that,{call_us}."
            )
        case Refusal.TOO_FAR:
            return f"We take online requests up to {clinic.booking_horizon_days} days ahead."
        case Refusal.OFF_GRID:
            grid = clinic.slot_grid_minutes
            examples = ", ".join(f"{9 + m // 60}:{m % 60:02d}" for m in (0, grid, 2 * grid))
            return f"Appointments start every {grid} minutes (for example {examples})."
        case Refusal.CLOSED:
            return f"The clinic is closed that day ({refusal.closure})."
        case Refusal.OUTSIDE_HOURS:
            if who:
                return f"{who} does not see patients at that time."
            return "None of our practitioners sees patients at that time."
        case Refusal.TIME_OFF:
            if who:
                return f"{who} is away at that time."
            return "Our practitioners are away at that time."
        case _:
            if who:
                return f"Sorry, that time with {who} has just been taken."
            return "Sorry, that time has just been taken."


def slot_day(value):
    """The clinic's day of a posted time ("2027-01-11T10:00:00-05:00"), or None."""
    try:
        start = datetime.fromisoformat(value or "")
        return timezone.localdate(start) if start.tzinfo else None
    except (ValueError, OverflowError):  # not a time, or one at the calendar's very end
        return None


def callable_number(value):
    """A phone number as typed, in the one form it is stored in (+12125550123 ext. 12).

    A number without its country code is read as one of the clinic's country. The same for
    a patient's request and a booking staff enter, so that searching by phone finds both.
    """
    try:
        number = phonenumbers.parse(value, Clinic.load().country or DEFAULT_PHONE_REGION)
    except phonenumbers.NumberParseException:
        number = None
    if number is None or not phonenumbers.is_valid_number(number):
        raise forms.ValidationError(
            "Enter a phone number like (212) 555-0123, or with its country code, "
            "like +44 20 7946 0000.",
            code="invalid",
        )
    formatted = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    if number.extension:
        # An office number's extension: without it the call reaches reception.
        formatted += f" ext. {number.extension}"
    if len(formatted) > Appointment._meta.get_field("phone").max_length:
        raise forms.ValidationError(
            "That extension is too long: please give a number we can call directly.",
            code="invalid",
        )
    return formatted


class BookingForm(forms.Form):
    """The patient's request. The field names are the public contract (DESIGN.md)."""

    service = forms.ChoiceField(
        widget=forms.HiddenInput,
        error_messages={
            "required": "Choose a treatment.",
            "invalid_choice": "Choose one of the treatments listed.",
        },
    )
    practitioner = forms.ChoiceField(
        required=False,
        widget=forms.HiddenInput,
        error_messages={
            "invalid_choice": "Choose one of our practitioners, or any practitioner.",
        },
    )
    slot = forms.CharField(
        label="Time",
        # Choices are set per request from availability (see offer()); the page
        # template draws them, grouped.
        widget=forms.RadioSelect,
        error_messages={"required": "Choose a time for your appointment."},
    )
    first_name = PlainTextField(
        label="First name",
        max_length=100,
        validators=[validate_name],
        widget=forms.TextInput(attrs={"autocomplete": "given-name"}),
        error_messages={
            "required": "Enter your first name.",
            "max_length": "Your first name can be at most 100 characters long.",
        },
    )
    last_name = PlainTextField(
        label="Last name",
        max_length=100,
        validators=[validate_name],
        widget=forms.TextInput(attrs={"autocomplete": "family-name"}),
        error_messages={
            "required": "Enter your last name.",
            "max_length": "Your last name can be at most 100 characters long.",
        },
    )
    email = forms.EmailField(
        label="Email address",
        max_length=254,
        help_text="We send your confirmation here.",
        widget=forms.EmailInput(attrs={"autocomplete": "email", "spellcheck": "false"}),
        error_messages={
            "required": "Enter your email address.",
            "invalid": "Enter an email address like name@example.com.",
            "max_length": "That email address is too long.",
        },
    )
    phone = forms.CharField(
        label="Phone number",
        max_length=32,
        help_text="We call you on it for a consultation by phone, or if we need to reach you.",
        widget=forms.TextInput(attrs={"type": "tel", "autocomplete": "tel"}),
        error_messages={
            "required": "Enter a phone number we can call you on.",
            "max_length": "That phone number is too long.",
        },
    )
    is_new_patient = forms.BooleanField(
        label="Have you been to our clinic before?",
        required=False,
        initial=True,
        widget=forms.RadioSelect(
            choices=[(True, "No, this is my first visit"), (False, "Yes, I have been before")]
        ),
    )
    concern = forms.ChoiceField(
        label="What best describes your back pain?",
        choices=[("", "Choose one")] + Concern.choices,
        help_text="If none fits, choose “Other” and tell us below.",
        error_messages={
            "required": "Choose what best describes your back pain, or “Other”.",
            "invalid_choice": "Choose one of the kinds of back pain listed, or “Other”.",
        },
    )
    message = PlainTextField(
        multiline=True,
        label="Anything else you would like us to know? (optional)",
        required=False,
        max_length=2000,
        help_text="For example how long you have had the pain. At most 2,000 characters.",
        widget=forms.Textarea(attrs={"rows": 4}),
        error_messages={"max_length": "Please keep your message under 2,000 characters."},
    )
    consent = forms.BooleanField(
        label=CONSENT_LABEL,
        help_text=CONSENT_HELP,
        error_messages={
            "required": "Tick the box to agree, so that we can keep your details and "
            "arrange your appointment.",
        },
    )
    # A honeypot: hidden from people; bots fill every field.
    website = forms.CharField(label="Leave empty", required=False)
    form_token = forms.CharField(required=False, widget=forms.HiddenInput)
    source_article = forms.CharField(required=False, widget=forms.HiddenInput)

    def __init__(self, *args, services, practitioners, **kwargs):
        super().__init__(*args, **kwargs)
        self.services = {service.slug: service for service in services}
        self.practitioners = {person.slug: person for person in practitioners}
        self.fields["service"].choices = [(slug, s.name) for slug, s in self.services.items()]
        self.fields["practitioner"].choices = [("", "Any practitioner")] + [
            (slug, p.name) for slug, p in self.practitioners.items()
        ]
        self.nearest = []
        self.checked_slot = None
        self.slot_groups = []
        self.first_error = None
        stamp = read_form_token(self.data.get("form_token")) if self.is_bound else None
        self.submission_key, self.served_at = stamp or (None, None)
        if not self.is_bound:
            self.initial.setdefault("form_token", issue_form_token())

    # What the page offers ----------------------------------------------------------

    def offer(self, slots, day_label):
        """Offer these open times of one day (after the nearest ones to a refused time)."""
        groups = []
        if self.nearest:
            groups.append(("Nearest open times", [(s.value, slot_label(s)) for s in self.nearest]))
        offered = {s.value for s in self.nearest}
        day = [(s.value, slot_label(s, with_day=False)) for s in slots if s.value not in offered]
        if day:
            # "Other" when some of the day's times are among the nearest, listed above.
            other = "Other open" if len(day) < len(slots) else "Open"
            groups.append((f"{other} times on {day_label}", day))
        self.fields["slot"].widget.choices = [choice for _, group in groups for choice in group]
        chosen = self["slot"].value() if self.is_bound else None
        self.slot_groups = []
        number = 0
        for index, (title, choices) in enumerate(groups):
            options = []
            for value, label in choices:
                options.append(
                    {
                        "id": f"id_slot_{number}",
                        "value": value,
                        "label": label,
                        "checked": value == chosen,
                    }
                )
                number += 1
            self.slot_groups.append(
                {
                    "id": f"slot-group-{index}",
                    "title": title,
                    "options": options,
                    "dated": bool(self.nearest) and index == 0,
                }
            )

    def typed(self):
        """What was sent, as a new form's initial values: all but the time, the honeypot
        and a token that is not ours (a new one is issued then)."""
        kept = {
            name: self.data.get(name)
            for name in self.fields
            if name not in ("slot", "website") and self.data.get(name) not in (None, "")
        }
        if self.submission_key is None:
            kept.pop("form_token", None)
        return kept

    def ensure_fresh_token(self):
        """Serve a new token when the posted one was missing or not ours.

        Dated as if served long enough ago: the patient has filled this form in already,
        and sending it again at once must not look like a bot's speed.
        """
        if self.is_bound and self.submission_key is None:
            self.data = self.data.copy()
            self.data["form_token"] = issue_form_token(time.time() - MINIMUM_FILL_SECONDS)

    def send_as_shown(self, service, practitioner):
        """Send the treatment and practitioner the page shows when this form comes back.

        One withdrawn while the patient filled the form in is shown as the first treatment
        or "any practitioner"; sending the withdrawn one again would repeat its error.
        """
        self.data = self.data.copy()
        self.data["service"] = service.slug if service else ""
        self.data["practitioner"] = practitioner.slug if practitioner else ""

    def mark_first_error(self):
        """Put the focus on the first field with an error, even without JavaScript."""
        for name, field in self.fields.items():
            if name in self.errors and not field.widget.is_hidden and name != "website":
                field.widget.attrs["autofocus"] = True
                self.first_error = name
                return name
        return None

    # Spam --------------------------------------------------------------------------

    def honeypot_filled(self):
        """People never see the honeypot; a bot fills every field."""
        return bool(self.data.get("website", "").strip())

    def sent_too_fast(self):
        """Sent sooner after it was served than a person could have filled it in."""
        if self.served_at is None:
            return False
        return time.time() - self.served_at < MINIMUM_FILL_SECONDS

    # Validation --------------------------------------------------------------------

    def clean_service(self):
        return self.services[self.cleaned_data["service"]]

    def clean_practitioner(self):
        slug = self.cleaned_data["practitioner"]
        return self.practitioners[slug] if slug else None

    def clean_slot(self):
        value = self.cleaned_data["slot"]
        try:
            start = datetime.fromisoformat(value)
            start = start.astimezone(UTC) if start.tzinfo else None
        except (ValueError, OverflowError):
            start = None
        if start is None:
            raise forms.ValidationError("Choose one of the times listed.", code="invalid")
        return start

    def clean_email(self):
        value = self.cleaned_data["email"]
        domain = value.rpartition("@")[2]
        # Django also accepts "localhost" and bare IP addresses; a patient's mailbox is never
        # there, and the clinic's mail server must not be pointed at them.
        if "." not in domain or domain.startswith("["):
            raise forms.ValidationError(
                self.fields["email"].error_messages["invalid"], code="invalid"
            )
        return value

    def clean_phone(self):
        return callable_number(self.cleaned_data["phone"])

    def clean_source_article(self):
        slug = self.cleaned_data["source_article"][:ARTICLE_SLUG_LENGTH]
        if not slug:
            return None
        # Only a published article counts; anything else is quietly ignored.
        return Article.objects.published().filter(slug=slug).first()

    def clean(self):
        cleaned = super().clean()
        if self.submission_key is None:
            raise forms.ValidationError(
                "This form had expired. Please check your choices and send it again.",
                code="expired",
            )
        service, start = cleaned.get("service"), cleaned.get("slot")
        if service and start and "practitioner" not in self.errors:
            self._check_slot(service, start, cleaned.get("practitioner"))
        return cleaned

    def _check_slot(self, service, start, practitioner):
        try:
            self.checked_slot = check_slot(service, start, practitioner=practitioner)
        except SlotUnavailable as refusal:
            self._refuse_slot(refusal, service, start, practitioner)

    def _refuse_slot(self, refusal, service, start, practitioner):
        clinic = Clinic.load()
        self.nearest = nearest_open_slots(service, start, practitioner=practitioner)
        message = refusal_message(refusal, practitioner=practitioner, clinic=clinic)
        if self.nearest:
            times = "; ".join(slot_label(slot) for slot in self.nearest)
            message += f" The nearest open times are: {times}. Choose one below."
        else:
            message += " There are no open times online at the moment;"
            message += f" please call us on {clinic.phone}." if clinic.phone else " please call us."
        self.add_error("slot", forms.ValidationError(message, code=refusal.reason.value))

    # Booking -----------------------------------------------------------------------

    def existing_request(self):
        """The appointment this very form already made (a double click, a resubmission)."""
        if self.submission_key is None:
            return None
        return Appointment.objects.filter(submission_key=self.submission_key).first()

    def repeats(self, appointment):
        """Whether this form asks again for `appointment`: the same patient's details, for
        the same treatment on the same day.

        The time may differ: Back reloads the day's page and the browser ticks the button
        at the same place in the list, by then another time. Another treatment or another
        day is a second request of its own.

        Only ever asked of a request this browser made (views.recent_request): never a way
        to find someone's request by typing their name and address.
        """

        def same(posted, stored):
            typed = self.fields[posted].to_python(self.data.get(posted, ""))
            return typed.casefold() == stored.casefold()

        service = self.services.get(self.data.get("service"))
        return (
            service is not None
            and service.pk == appointment.service_id
            and slot_day(self.data.get("slot")) == timezone.localdate(appointment.start)
            and same("email", appointment.email)
            and same("first_name", appointment.first_name)
            and same("last_name", appointment.last_name)
        )

    def book(self):
        """Book the request. Returns the appointment, or None with the slot's error set."""
        data = self.cleaned_data
        service, start, chosen = data["service"], data["slot"], data["practitioner"]
        # Checked moments ago by clean(): looked up again only after losing a race (the
        # booking itself holds the practitioner's lock and refuses an overlap).
        slot = self.checked_slot
        for attempt in range(BOOKING_ATTEMPTS):
            # The view has just looked for this form's request; a twin submission that
            # books in between is caught by the unique submission key below.
            existing = self.existing_request() if attempt else None
            if existing:
                return existing
            if slot is None:
                try:
                    slot = check_slot(service, start, practitioner=chosen)
                except SlotUnavailable as refusal:
                    self._refuse_slot(refusal, service, start, chosen)
                    return None
            appointment = Appointment(
                service=service,
                practitioner=slot.practitioner,
                start=slot.start,
                end=slot.end,
                channel=Appointment.Channel.ONLINE,
                first_name=data["first_name"],
                last_name=data["last_name"],
                email=data["email"],
                phone=data["phone"],
                is_new_patient=data["is_new_patient"],
                concern=data["concern"],
                message=data["message"],
                consent_at=timezone.now(),
                consent_version=CONSENT_VERSION,
                source_article=data["source_article"],
                submission_key=self.submission_key,
            )
            try:
                return appointment.book()
            except SlotTaken:
                slot = None
                continue  # Someone else was quicker: look again.
            except IntegrityError:
                # The same form, submitted twice at once: the other submission won.
                existing = self.existing_request()
                if existing:
                    return existing
                raise
        self._refuse_slot(SlotUnavailable(Refusal.TAKEN), service, start, chosen)
        return None
