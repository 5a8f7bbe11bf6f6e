"""The clinic, its services and practitioners, their hours, and patients' appointments.

Times are stored in UTC and shown in the clinic's time zone (settings.TIME_ZONE).
"""

import secrets
from datetime import UTC, timedelta

import phonenumbers
from django.conf import settings
from django.core import signing
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import IntegrityError, connection, models, transaction
from django.db.models import Case, Exists, F, OuterRef, Q, Value, When
from django.db.models.expressions import RawSQL
from django.urls import reverse
from django.utils import timezone

from clinic import generations


class Concern(models.TextChoices):
    """The kinds of back pain a patient can name on the request form."""

    ARTHRITIS = "arthritis", "Arthritis"
    DEGENERATIVE_DISC = "degenerative_disc", "Degenerative disc disease"
    DISC = "disc", "Bulging or ruptured disc"
    SCIATICA = "sciatica", "Sciatica"
    SPRAIN_STRAIN = "sprain_strain", "Sprain or strain"
    SPONDYLOSIS = "spondylosis", "Spondylosis"
    SPINAL_STENOSIS = "spinal_stenosis", "Spinal stenosis"
    SPORTS_INJURY = "sports_injury", "Sports injury"
    AUTO_ACCIDENT = "auto_accident", "Auto-accident injury"
    ACUTE_PAIN = "acute_pain", "Acute pain"
    CHRONIC_PAIN = "chronic_pain", "Chronic pain"
    OTHER = "other", "Other"


class Clinic(models.Model):
    """The clinic's details and booking rules: one record, edited by the owner."""

    CACHE_KEY = "booking:clinic"

    name = models.CharField(max_length=120)
    tagline = models.CharField(
        max_length=200, blank=True, help_text="One line under the name on the home page."
    )
    street_address = models.CharField(max_length=200, blank=True)
    locality = models.CharField("city", max_length=100, blank=True)
    region = models.CharField("state or region", max_length=100, blank=True)
    postal_code = models.CharField(max_length=20, blank=True)
    country = models.CharField(max_length=2, default="US", help_text="Two-letter country code.")
    phone = models.CharField(max_length=32, blank=True, help_text="Shown to patients as written.")
    email = models.EmailField(blank=True, help_text="Shown to patients; replies go here.")
    opening_hours_text = models.TextField(
        blank=True, help_text="Shown in the footer and on the home page, one line per row."
    )
    map_url = models.URLField(blank=True, help_text="A link to the clinic on a map.")
    minimum_notice_hours = models.PositiveSmallIntegerField(
        default=24,
        validators=[MaxValueValidator(30 * 24)],
        help_text="Patients can book online no sooner than this many hours ahead.",
    )
    booking_horizon_days = models.PositiveSmallIntegerField(
        default=60,
        validators=[MinValueValidator(1), MaxValueValidator(365)],
        help_text="Patients can book online at most this many days ahead.",
    )
    # Each divides an hour, so that every hour starts on the grid.
    slot_grid_minutes = models.PositiveSmallIntegerField(
        "slot grid",
        default=15,
        choices=[(m, f"Every {m} minutes") for m in (5, 10, 15, 20, 30, 60)],
        help_text="Online appointments start on this grid (every 15 minutes: 9:00, 9:15…).",
    )
    buffer_minutes = models.PositiveSmallIntegerField(
        default=0,
        validators=[MaxValueValidator(4 * 60)],
        help_text="Minutes kept free between two appointments of one practitioner.",
    )
    cancellation_notice_hours = models.PositiveSmallIntegerField(
        default=24,
        validators=[MaxValueValidator(7 * 24)],
        help_text="Patients can cancel online until this many hours before; after that they call.",
    )

    class Meta:
        verbose_name = "clinic details and booking rules"
        verbose_name_plural = "clinic details and booking rules"
        constraints = [
            models.CheckConstraint(condition=Q(pk=1), name="booking_clinic_single_row"),
        ]

    def __str__(self):
        return self.name

    def save(self, *args, **kwargs):
        self.pk = 1
        # In capitals, the only way the phone library (a local number is read as this
        # country's) and search engines know a country code.
        self.country = self.country.strip().upper()
        super().save(*args, **kwargs)
        cache.delete(self.CACHE_KEY)

    def clean(self):
        errors = {}
        horizon_hours = (self.booking_horizon_days or 0) * 24
        if self.minimum_notice_hours is not None and self.minimum_notice_hours >= horizon_hours:
            errors["minimum_notice_hours"] = (
                "The minimum notice must be shorter than the booking horizon, or no time could "
                "ever be booked online."
            )
        # Patients' phone numbers without a country code are read as this country's.
        if self.country.strip().upper() not in phonenumbers.SUPPORTED_REGIONS:
            errors["country"] = (
                "Enter the clinic's two-letter country code, like US, CA or GB: patients' "
                "phone numbers without a country code are read as that country's."
            )
        if errors:
            raise ValidationError(errors)

    @classmethod
    def load(cls):
        """The clinic's record, cached, created with placeholder values if missing.

        The cached copy carries the "clinic" generation it was read at: a change made
        through another app server (whose local cache this one cannot clear) replaces
        that generation, and the record is read again.
        """
        generation = generations.current(generations.CLINIC)
        clinic = cache.get(cls.CACHE_KEY)
        if clinic is None or getattr(clinic, "cached_generation", None) != generation:
            clinic, _ = cls.objects.get_or_create(pk=1, defaults={"name": "Our clinic"})
            clinic.cached_generation = generation
            cache.set(cls.CACHE_KEY, clinic, 300)
        return clinic

    @property
    def minimum_notice(self):
        return timedelta(hours=self.minimum_notice_hours)

    @property
    def booking_horizon(self):
        return timedelta(days=self.booking_horizon_days)

    @property
    def slot_grid(self):
        return timedelta(minutes=self.slot_grid_minutes)

    @property
    def buffer(self):
        return timedelta(minutes=self.buffer_minutes)

    @property
    def cancellation_notice(self):
        return timedelta(hours=self.cancellation_notice_hours)

    @property
    def address_lines(self):
        city_line = " ".join(
            p for p in [self.locality + ",", self.region, self.postal_code] if p.strip(",")
        )
        return [line for line in [self.street_address, city_line.strip()] if line]


class ServiceQuerySet(models.QuerySet):
    def active(self):
        return self.filter(is_active=True)


SHORTEST_SERVICE_MINUTES = 5
LONGEST_SERVICE_MINUTES = 480
# An appointment lasts its service's duration (set by the workflow, never typed in), so
# none is longer than this: queries for the appointments around a time use it to read
# only the ones that start at most this long before it, whatever the history behind.
LONGEST_APPOINTMENT = timedelta(minutes=LONGEST_SERVICE_MINUTES)


class Service(models.Model):
    name = models.CharField(max_length=120)
    slug = models.SlugField(unique=True)
    description = models.TextField(blank=True, help_text="Shown to patients on the request form.")
    duration_minutes = models.PositiveSmallIntegerField(
        validators=[
            MinValueValidator(SHORTEST_SERVICE_MINUTES),
            MaxValueValidator(LONGEST_SERVICE_MINUTES),
        ],
        help_text="How long the practitioner is booked for.",
    )
    price = models.DecimalField(
        max_digits=8,
        decimal_places=2,
        null=True,
        blank=True,
        validators=[MinValueValidator(0)],
        help_text="Leave empty for free.",
    )
    is_active = models.BooleanField(
        "offered online", default=True, help_text="Untick to stop offering it on the request form."
    )
    by_phone = models.BooleanField(
        "by phone",
        default=False,
        help_text="The practitioner calls the patient on the number they gave; nobody comes "
        "in. Patients' emails, calendar files and pages then say so instead of giving an "
        "address.",
    )
    position = models.PositiveSmallIntegerField(default=0, help_text="Lower numbers come first.")

    objects = ServiceQuerySet.as_manager()

    class Meta:
        ordering = ["position", "name"]
        constraints = [
            models.CheckConstraint(
                condition=Q(duration_minutes__gte=SHORTEST_SERVICE_MINUTES)
                & Q(duration_minutes__lte=LONGEST_SERVICE_MINUTES),
                name="booking_service_duration_in_range",
                violation_error_message="A service lasts from 5 minutes to 8 hours.",
            ),
        ]

    def __str__(self):
        return self.name

    @property
    def duration(self):
        return timedelta(minutes=self.duration_minutes)


class PractitionerQuerySet(models.QuerySet):
    def active(self):
        return self.filter(is_active=True)

    def working(self):
        """Those with working hours: without any, they would be offered with no times."""
        return self.filter(Exists(WorkingHours.objects.filter(practitioner=OuterRef("pk"))))


class Practitioner(models.Model):
    name = models.CharField(
        max_length=120, help_text="As patients see it, e.g. “Dr. Ada Lin, L.Ac.”"
    )
    slug = models.SlugField(unique=True)
    bio = models.TextField(blank=True, help_text="A few sentences shown to patients.")
    is_active = models.BooleanField(
        "takes bookings", default=True, help_text="Untick to stop offering this practitioner."
    )
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="practitioner",
        help_text="The staff account of this practitioner: they then see their own appointments.",
    )
    position = models.PositiveSmallIntegerField(default=0, help_text="Lower numbers come first.")

    objects = PractitionerQuerySet.as_manager()

    class Meta:
        ordering = ["position", "name"]

    def __str__(self):
        return self.name

    def absence(self, start, end):
        """Why this practitioner sees nobody in [start, end): the clinic is closed, or
        they are away (their time off). An empty string when neither."""
        first_day = timezone.localdate(start)
        last_day = timezone.localdate(end - timedelta(microseconds=1))
        closure = (
            ClinicClosure.objects.filter(start_date__lte=last_day, end_date__gte=first_day)
            .order_by("start_date")
            .first()
        )
        if closure:
            return f"the clinic is closed ({closure.reason})"
        away = self.time_off.filter(start__lt=end, end__gt=start).order_by("start").first()
        if away:
            return f"{self.name} is away then ({away.reason or 'time off'})"
        return ""

    def works(self, start, end):
        """Whether [start, end) lies within this practitioner's weekly working hours."""
        local_start, local_end = timezone.localtime(start), timezone.localtime(end)
        if local_end.date() != local_start.date():
            return False
        covered = local_start.time()  # the ranges, in order, must cover it without a gap
        # all(): a caller checking many appointments prefetches the hours once.
        ranges = sorted(
            (row.start_time, row.end_time)
            for row in self.working_hours.all()
            if row.weekday == local_start.weekday()
        )
        for start_time, end_time in ranges:
            if start_time <= covered < end_time:
                covered = end_time
        return covered >= local_end.time()


class WorkingHours(models.Model):
    class Weekday(models.IntegerChoices):
        MONDAY = 0, "Monday"
        TUESDAY = 1, "Tuesday"
        WEDNESDAY = 2, "Wednesday"
        THURSDAY = 3, "Thursday"
        FRIDAY = 4, "Friday"
        SATURDAY = 5, "Saturday"
        SUNDAY = 6, "Sunday"

    practitioner = models.ForeignKey(
        Practitioner, on_delete=models.CASCADE, related_name="working_hours"
    )
    weekday = models.PositiveSmallIntegerField(choices=Weekday)
    start_time = models.TimeField(help_text="Local clinic time.")
    end_time = models.TimeField(help_text="Local clinic time.")

    class Meta:
        verbose_name_plural = "working hours"
        ordering = ["practitioner", "weekday", "start_time"]
        constraints = [
            models.CheckConstraint(
                condition=Q(end_time__gt=F("start_time")),
                name="booking_workinghours_end_after_start",
                violation_error_message="The end time must be after the start time.",
            ),
        ]

    def __str__(self):
        return f"{self.get_weekday_display()} {self.start_time:%H:%M}–{self.end_time:%H:%M}"


class TimeOff(models.Model):
    practitioner = models.ForeignKey(
        Practitioner, on_delete=models.CASCADE, related_name="time_off"
    )
    start = models.DateTimeField()
    end = models.DateTimeField()
    reason = models.CharField(max_length=200, blank=True, help_text="For staff only.")

    class Meta:
        verbose_name_plural = "time off"
        ordering = ["start"]
        constraints = [
            models.CheckConstraint(
                condition=Q(end__gt=F("start")),
                name="booking_timeoff_end_after_start",
                violation_error_message="The end must be after the start.",
            ),
        ]

    def __str__(self):
        return f"{self.practitioner}: {timezone.localtime(self.start):%Y-%m-%d %H:%M}"


class ClinicClosure(models.Model):
    start_date = models.DateField()
    end_date = models.DateField(help_text="The last day closed; the same as the start for one day.")
    reason = models.CharField(max_length=200, help_text="For example “Thanksgiving”.")

    class Meta:
        ordering = ["start_date"]
        constraints = [
            models.CheckConstraint(
                condition=Q(end_date__gte=F("start_date")),
                name="booking_clinicclosure_end_not_before_start",
                violation_error_message="The last day cannot be before the first day.",
            ),
        ]

    def __str__(self):
        if self.end_date == self.start_date:
            return f"{self.reason} ({self.start_date:%Y-%m-%d})"
        return f"{self.reason} ({self.start_date:%Y-%m-%d} – {self.end_date:%Y-%m-%d})"


# Unambiguous when read aloud or over the phone: no 0/O, 1/I/L.
REFERENCE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
REFERENCE_LENGTH = 8


def new_reference():
    return "".join(secrets.choice(REFERENCE_ALPHABET) for _ in range(REFERENCE_LENGTH))


class SlotTaken(Exception):
    """The practitioner already has an active appointment overlapping this time."""


class TransitionNotAllowed(Exception):
    """The workflow does not allow this status change from the current status."""


class PractitionerAway(Exception):
    """The clinic is closed, or the practitioner away, at that time (Practitioner.absence)."""


# The front desk's queue order: new requests ahead of everything else (indexed).
AWAITING_DECISION_FIRST = Case(When(status="requested", then=Value(0)), default=Value(1))
# The same order as SQL with its values written out, to sort by: Django sends Case's values
# as query parameters, and SQLite uses an index on an expression only for the identical
# expression, literals included (a full sort of every appointment otherwise).
AWAITING_DECISION_FIRST_ORDER = RawSQL(
    """CASE WHEN "booking_appointment"."status" = 'requested' THEN 0 ELSE 1 END""", ()
)


class AppointmentQuerySet(models.QuerySet):
    def active(self):
        """Appointments that hold their slot."""
        return self.filter(status__in=Appointment.ACTIVE_STATUSES)

    def awaiting_decision(self):
        return self.filter(status=Appointment.Status.REQUESTED)

    def finished(self):
        """Appointments whose workflow has ended: nothing more can happen to them."""
        return self.filter(status__in=Appointment.FINISHED_STATUSES)

    def purgeable(self, before):
        """Finished appointments with nothing left to do or send since `before`.

        The visit and the last change both lie before it, and no email is still waiting
        to go out (a cancellation notice must not vanish with its request).
        """
        return (
            self.finished()
            .filter(end__lt=before, updated_at__lt=before)
            .exclude(
                emails__status__in=[OutgoingEmail.Status.PENDING, OutgoingEmail.Status.SENDING]
            )
        )

    def overlapping(self, start, end, *, buffer=timedelta(0)):
        """Appointments closer than `buffer` to the interval [start, end).

        The lower bound on their start excludes nothing (none is longer than
        LONGEST_APPOINTMENT), but lets the (practitioner, start) index stop there instead
        of reading every earlier appointment: the cost stays flat as history piles up.
        """
        start, end = start.astimezone(UTC), end.astimezone(UTC)  # real time, not wall-clock
        return self.filter(
            start__lt=end + buffer,
            start__gte=start - buffer - LONGEST_APPOINTMENT,
            end__gt=start - buffer,
        )

    def from_token(self, token):
        """The appointment a patient's link points at, or DoesNotExist."""
        try:
            data = Appointment.token_signer().unsign_object(token)
            return self.get(pk=int(data["id"]), reference=str(data["ref"]))
        except (signing.BadSignature, KeyError, TypeError, ValueError):
            raise Appointment.DoesNotExist from None


class Appointment(models.Model):
    """A patient's consultation request, and the appointment it becomes."""

    class Status(models.TextChoices):
        REQUESTED = "requested", "Requested"
        CONFIRMED = "confirmed", "Confirmed"
        DECLINED = "declined", "Declined"
        CANCELLED = "cancelled", "Cancelled"
        COMPLETED = "completed", "Completed"
        NO_SHOW = "no_show", "No-show"

    class Channel(models.TextChoices):
        ONLINE = "online", "Online request form"
        STAFF = "staff", "Entered by staff"

    ACTIVE_STATUSES = (Status.REQUESTED, Status.CONFIRMED)
    TRANSITIONS = {
        Status.REQUESTED: {Status.CONFIRMED, Status.DECLINED, Status.CANCELLED},
        Status.CONFIRMED: {Status.COMPLETED, Status.NO_SHOW, Status.CANCELLED},
    }
    # What only an appointment whose time has come can become.
    NEEDS_ITS_TIME = (Status.COMPLETED, Status.NO_SHOW)
    # No way out of these: the only statuses purge_requests may delete.
    FINISHED_STATUSES = (Status.DECLINED, Status.CANCELLED, Status.COMPLETED, Status.NO_SHOW)
    TOKEN_SALT = "booking.appointment"  # noqa: S105 (a signing salt, not a secret)

    reference = models.CharField(
        max_length=REFERENCE_LENGTH,
        unique=True,
        default=new_reference,
        editable=False,
        help_text="Quote this with the patient; it is in every email.",
    )
    service = models.ForeignKey(Service, on_delete=models.PROTECT, related_name="appointments")
    practitioner = models.ForeignKey(
        Practitioner, on_delete=models.PROTECT, related_name="appointments"
    )
    start = models.DateTimeField()
    end = models.DateTimeField()
    status = models.CharField(max_length=20, choices=Status, default=Status.REQUESTED)
    channel = models.CharField(max_length=10, choices=Channel, default=Channel.ONLINE)

    first_name = models.CharField(max_length=100)
    last_name = models.CharField(max_length=100)
    email = models.EmailField()
    phone = models.CharField(max_length=32, help_text="In international format.")
    is_new_patient = models.BooleanField("new patient", default=True)
    concern = models.CharField(max_length=30, choices=Concern, default=Concern.OTHER)
    message = models.TextField(blank=True, max_length=2000)
    consent_at = models.DateTimeField(
        null=True, blank=True, help_text="When the patient agreed to the privacy notice."
    )
    consent_version = models.CharField(
        max_length=20, blank=True, help_text="Which wording of the privacy notice they agreed to."
    )
    source_article = models.ForeignKey(
        "articles.Article",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="appointments",
        help_text="The article the patient was reading when they asked to book.",
    )

    staff_notes = models.TextField(
        blank=True, help_text="For staff only; never shown to the patient."
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="The staff member who entered it; empty for online requests.",
    )
    submission_key = models.CharField(
        max_length=64,
        null=True,
        blank=True,
        unique=True,
        editable=False,
        help_text="Identifies the form a request came from, so a double submit books once.",
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)
    reminder_sent_at = models.DateTimeField(null=True, blank=True, editable=False)
    sequence = models.PositiveIntegerField(
        default=0, editable=False, help_text="Bumped on each reschedule, for calendar files."
    )

    objects = AppointmentQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(end__gt=F("start")),
                name="booking_appointment_end_after_start",
                violation_error_message="The end must be after the start.",
            ),
            # PostgreSQL also gets an exclusion constraint against overlapping active
            # appointments of one practitioner: see migration 0002.
        ]
        indexes = [
            models.Index(fields=["practitioner", "start"], name="booking_appt_pract_start"),
            models.Index(fields=["status", "start"], name="booking_appt_status_start"),
            models.Index(fields=["start"], name="booking_appt_start"),
            models.Index(fields=["-created_at"], name="booking_appt_created_desc"),
            models.Index(
                AWAITING_DECISION_FIRST, F("created_at").desc(), name="booking_appt_queue"
            ),
        ]
        permissions = [
            ("view_all_appointments", "Can see every practitioner's appointments"),
            ("export_appointments", "Can export appointments to CSV"),
        ]

    def __str__(self):
        return self.reference

    @property
    def patient_url(self):
        """The patient's own page for this request: whoever has it can see and cancel it.

        Not get_absolute_url: Django's admin sends any staff account to an object's
        get_absolute_url through its "view on site" address, without a permission check.
        """
        return reverse("booking:request-detail", args=[self.token])

    @classmethod
    def token_signer(cls):
        return signing.Signer(salt=cls.TOKEN_SALT)

    @property
    def token(self):
        """The signed, unguessable key of the patient's own page for this request.

        Untimed on purpose: every email carries the same link, and it stays valid as long as
        the request exists (purge_requests deletes old ones).
        """
        return self.token_signer().sign_object({"id": self.pk, "ref": self.reference})

    @property
    def phone_ending(self):
        """The last digits of the patient's phone: enough for them to know which it is."""
        return self.phone.split(" ext. ")[0][-4:]

    @property
    def patient_name(self):
        return f"{self.first_name} {self.last_name}".strip()

    @property
    def is_active(self):
        return self.status in self.ACTIVE_STATUSES

    @property
    def has_been_confirmed(self):
        """Confirmed, and perhaps since taken place or missed: no longer a request."""
        return self.status in (self.Status.CONFIRMED, self.Status.COMPLETED, self.Status.NO_SHOW)

    @property
    def patient_word(self):
        """What its patient's pages call it: a request until staff confirm it."""
        return "appointment" if self.has_been_confirmed else "request"

    @property
    def duration_minutes(self):
        """How long it is booked for: its service's length may have changed since."""
        return int((self.end - self.start).total_seconds() // 60)

    def has_started(self, now=None):
        """Whether its time has come (an open request may outlive it: nobody answered)."""
        return self.start <= (now or timezone.now())

    def clean(self):
        if self.service_id and self.start and not self.end:
            self.end = self.start.astimezone(UTC) + self.service.duration
        overlap_matters = self.start and self.end and self.practitioner_id and self.is_active
        if overlap_matters and self._takes_a_new_time() and self.conflicts().exists():
            raise ValidationError(
                {"start": "The practitioner already has an appointment at this time."}
            )

    def _takes_a_new_time(self):
        """New, or moved: a time it already holds is not checked again, so that a note can
        be saved after the clinic's buffer or a neighbour's service grew longer."""
        if self._state.adding:
            return True
        return not Appointment.objects.filter(
            pk=self.pk, start=self.start, end=self.end, practitioner_id=self.practitioner_id
        ).exists()

    def conflicts(self):
        """Other active appointments of this practitioner too close to this one."""
        buffer = Clinic.load().buffer
        return (
            Appointment.objects.active()
            .filter(practitioner_id=self.practitioner_id)
            .overlapping(self.start, self.end, buffer=buffer)
            .exclude(pk=self.pk)
        )

    def _save_holding_slot(self):
        """Save, refusing an overlap; the caller holds a transaction."""
        # Serialise bookings per practitioner: a row lock on PostgreSQL; on SQLite the
        # IMMEDIATE transaction already holds the database's write lock.
        if connection.features.has_select_for_update:
            Practitioner.objects.select_for_update().filter(pk=self.practitioner_id).first()
        if self.conflicts().exists():
            raise SlotTaken
        try:
            # No savepoint: every caller's own transaction ends with the exception raised
            # here, and a failed insert leaves it marked for rollback, never half-used.
            with transaction.atomic(savepoint=False):
                self.save()
        except IntegrityError as error:
            if "booking_appointment_no_overlap" in str(error):
                raise SlotTaken from error
            raise

    def book(self, *, by=None, note=""):
        """Save a new appointment, holding its slot, and record and announce it.

        Raises SlotTaken if the practitioner is no longer free.
        """
        if not self.end:
            # In UTC: adding to a local time adds wall-clock time, an hour off across a
            # daylight-saving change.
            self.end = self.start.astimezone(UTC) + self.service.duration
        with transaction.atomic():
            self._save_holding_slot()
            change = self.changes.create(
                from_status="", to_status=self.status, changed_by=by, note=note
            )
            _notify(self, change)
        return self

    def reschedule(self, start, *, practitioner=None, by=None, note=""):
        """Move an active appointment; the overlap rule applies, and never onto a clinic
        closure or the practitioner's time off. Raises SlotTaken or PractitionerAway."""
        if not self.is_active:
            raise TransitionNotAllowed(
                f"A {self.get_status_display().lower()} appointment cannot be moved."
            )
        old_start, old_end, old_practitioner = self.start, self.end, self.practitioner
        try:
            with transaction.atomic():
                # Read again under a lock: a cancellation that committed since this object
                # was read (the patient's link, another staff member) must not be undone.
                self.status = (
                    Appointment.objects.select_for_update()
                    .values_list("status", flat=True)
                    .get(pk=self.pk)
                )
                if not self.is_active:
                    raise TransitionNotAllowed(
                        f"A {self.get_status_display().lower()} appointment cannot be moved."
                    )
                self.start = start
                self.end = start.astimezone(UTC) + self.service.duration
                if practitioner is not None:
                    self.practitioner = practitioner
                absence = self.practitioner.absence(self.start, self.end)
                if absence:
                    raise PractitionerAway(f"Not at this time: {absence}.")
                self.sequence = F("sequence") + 1
                self._save_holding_slot()
                self.refresh_from_db(fields=["sequence"])
                self._record_reschedule(old_start, by=by, note=note)
        except Exception:
            # Leave the caller's object as it was: nothing was saved.
            self.start, self.end, self.practitioner = old_start, old_end, old_practitioner
            self.refresh_from_db(fields=["sequence"])
            raise
        return self

    def _record_reschedule(self, old_start, *, by, note):
        when = timezone.localtime(old_start).strftime("%Y-%m-%d %H:%M")
        change = self.changes.create(
            from_status=self.status,
            to_status=self.status,
            changed_by=by,
            note=note or f"Moved from {when}.",
            is_reschedule=True,
            moved_from=old_start,
        )
        _notify(self, change)

    def can_change_to(self, status):
        """Whether the workflow allows it now.

        Completed and no-show only once its time has come: either frees the time, and a
        coming visit marked so by mistake would give it to another patient while its own
        patient, told nothing, still comes.
        """
        if status in self.NEEDS_ITS_TIME and not self.has_started():
            return False
        return status in self.TRANSITIONS.get(self.status, ())

    def change_status(self, status, *, by=None, note=""):
        """The one way to move an appointment through its workflow.

        Records who, when, from, to and the note, and queues the emails it calls for.
        Raises TransitionNotAllowed, or for a confirmation SlotTaken or PractitionerAway
        (a closure or time off entered since the request was made).
        """
        status = self.Status(status)
        with transaction.atomic():
            current = Appointment.objects.select_for_update().get(pk=self.pk)
            # As the row is now, not as this object was read (a bulk action's rows, a page
            # open a while): a move made meanwhile decides whether its time has come, the
            # overlap check, and the time the emails give.
            for field in ("status", "start", "end", "practitioner_id", "sequence"):
                setattr(self, field, getattr(current, field))
            if status not in self.TRANSITIONS.get(self.status, ()):
                raise TransitionNotAllowed(
                    f"{self.reference} is {current.get_status_display().lower()} and cannot "
                    f"become {status.label.lower()}."
                )
            if status in self.NEEDS_ITS_TIME and not self.has_started():
                raise TransitionNotAllowed(
                    f"{self.reference} has not started yet and cannot become "
                    f"{status.label.lower()}."
                )
            if status == self.Status.CONFIRMED and self.conflicts().exists():
                raise SlotTaken(f"{self.reference} now overlaps another appointment.")
            absence = status == self.Status.CONFIRMED and self.practitioner.absence(
                self.start, self.end
            )
            if absence:
                raise PractitionerAway(
                    f"{self.reference}: {absence}; move it to another time or decline it."
                )
            from_status = self.status
            self.status = status
            self.save(update_fields=["status", "updated_at"])
            change = self.changes.create(
                from_status=from_status, to_status=status, changed_by=by, note=note
            )
            _notify(self, change)
        return change

    def confirm(self, *, by=None, note=""):
        return self.change_status(self.Status.CONFIRMED, by=by, note=note)

    def decline(self, *, by=None, note=""):
        return self.change_status(self.Status.DECLINED, by=by, note=note)

    def cancel(self, *, by=None, note=""):
        return self.change_status(self.Status.CANCELLED, by=by, note=note)

    def complete(self, *, by=None, note=""):
        return self.change_status(self.Status.COMPLETED, by=by, note=note)

    def mark_no_show(self, *, by=None, note=""):
        return self.change_status(self.Status.NO_SHOW, by=by, note=note)

    def message_to_patient(self):
        """What staff wrote to the patient when they declined or cancelled it, or ""."""
        if self.status not in (self.Status.DECLINED, self.Status.CANCELLED):
            return ""
        change = (
            self.changes.filter(to_status=self.status, changed_by__isnull=False)
            .order_by("-changed_at")
            .first()
        )
        return change.note.strip() if change else ""

    def patient_cancel_deadline(self):
        """The last moment its patient may cancel online: the clinic's notice before it."""
        return self.start - Clinic.load().cancellation_notice

    def patient_can_cancel(self, now=None):
        """Patients may cancel online until the clinic's cancellation notice."""
        return self.is_active and (now or timezone.now()) <= self.patient_cancel_deadline()


def _notify(appointment, change):
    # Imported here: emails imports models.
    from booking import emails

    emails.queue_for_change(appointment, change)


class StatusChange(models.Model):
    """One step of an appointment's history: who changed what, when, and why."""

    appointment = models.ForeignKey(Appointment, on_delete=models.CASCADE, related_name="changes")
    from_status = models.CharField(max_length=20, choices=Appointment.Status, blank=True)
    to_status = models.CharField(max_length=20, choices=Appointment.Status)
    is_reschedule = models.BooleanField(default=False)
    # The time a move started from, which the patient's email names.
    moved_from = models.DateTimeField(null=True, blank=True, editable=False)
    changed_at = models.DateTimeField(default=timezone.now)
    changed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="Empty when the patient or the system made the change.",
    )
    note = models.TextField(blank=True)

    class Meta:
        ordering = ["changed_at", "pk"]

    def __str__(self):
        return f"{self.appointment}: {self.from_status or 'new'} → {self.to_status}"


class OutgoingEmail(models.Model):
    """An email waiting to be sent, sent, or given up on: the outbox.

    Rows are written in the same transaction as the change they announce, so a
    booking and its emails commit or roll back together; sending happens after
    the commit and is retried by `send_pending_emails`.
    """

    class Kind(models.TextChoices):
        REQUEST_RECEIVED = "request_received", "Request received (patient)"
        CONFIRMED = "confirmed", "Confirmed (patient)"
        RESCHEDULED = "rescheduled", "Rescheduled (patient)"
        DECLINED = "declined", "Declined (patient)"
        CANCELLED = "cancelled", "Cancelled (patient)"
        REMINDER = "reminder", "Reminder (patient)"
        STAFF_NEW_REQUEST = "staff_new_request", "New request (staff)"
        STAFF_CANCELLED = "staff_cancelled", "Patient cancelled (staff)"

    class Status(models.TextChoices):
        PENDING = "pending", "Waiting to be sent"
        SENDING = "sending", "Being sent"
        SENT = "sent", "Sent"
        FAILED = "failed", "Failed, gave up"
        # Interrupted while being sent, then not to be sent again: it needs nobody's attention.
        CLOSED = "closed", "Closed, not sent again"

    appointment = models.ForeignKey(
        Appointment, null=True, blank=True, on_delete=models.CASCADE, related_name="emails"
    )
    kind = models.CharField(max_length=30, choices=Kind)
    to_address = models.EmailField()
    subject = models.CharField(max_length=200)
    body_text = models.TextField()
    body_html = models.TextField(blank=True)
    ics = models.TextField(blank=True, help_text="A calendar file attached to the email.")
    status = models.CharField(max_length=10, choices=Status, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    claimed_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["status", "next_attempt_at"], name="booking_email_due"),
        ]

    def __str__(self):
        return f"{self.get_kind_display()} – {self.get_status_display()}"
