"""The staff side of the clinic: appointments, the schedule, and the clinic's set-up.

Every status change goes through the model's workflow (Appointment.change_status and the
methods built on it); the admin only collects the choice and reports the outcome.
"""

import csv
from datetime import UTC, date, datetime, timedelta

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.admin.options import IncorrectLookupParameters
from django.contrib.admin.utils import unquote
from django.contrib.admin.widgets import AdminRadioSelect
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.db.models import Count, Max, OuterRef, Q, Subquery
from django.http import (
    Http404,
    HttpResponseNotAllowed,
    HttpResponseRedirect,
    StreamingHttpResponse,
)
from django.shortcuts import redirect
from django.template.defaultfilters import pluralize
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import formats, timezone
from django.utils.html import format_html, format_html_join
from django.utils.http import urlencode
from django.utils.text import Truncator
from django.utils.timesince import timesince

from booking import emails, schedule
from booking.forms import callable_number
from booking.models import (
    AWAITING_DECISION_FIRST_ORDER,
    Appointment,
    Clinic,
    ClinicClosure,
    OutgoingEmail,
    Practitioner,
    PractitionerAway,
    Service,
    SlotTaken,
    StatusChange,
    TimeOff,
    TransitionNotAllowed,
    WorkingHours,
)
from clinic.admin_base import ModelAdmin, guard_auth_admins

Status = Appointment.Status

# What staff see for each target status: the verb of the report, and whether the
# change calls for a message to the patient (sent in their email).
WORKFLOW = {
    Status.CONFIRMED: {"verb": "confirmed", "button": "Confirm", "asks_note": False},
    Status.DECLINED: {"verb": "declined", "button": "Decline…", "asks_note": True},
    Status.COMPLETED: {"verb": "marked completed", "button": "Mark completed", "asks_note": False},
    Status.NO_SHOW: {"verb": "marked no-show", "button": "Mark no-show", "asks_note": False},
    Status.CANCELLED: {"verb": "cancelled", "button": "Cancel…", "asks_note": True},
}
PATIENT_FIELDS = [
    "first_name",
    "last_name",
    "email",
    "phone",
    "is_new_patient",
    "concern",
    "message",
]
# The patient's details as the forms lay them out, two to a line.
PATIENT_FIELDSETS = [
    ("first_name", "last_name"),
    ("email", "phone"),
    ("is_new_patient", "concern"),
    "message",
]


def when(moment):
    """A date and time as staff read it, in the clinic's time zone (clinic/formats)."""
    return formats.date_format(timezone.localtime(moment), "DATETIME_FORMAT")


# The schedule steps a week either way from the day shown: keep clear of the calendar's ends.
SCHEDULE_FIRST_DAY = date.min + timedelta(days=31)
SCHEDULE_LAST_DAY = date.max - timedelta(days=31)


class WhenFilter(admin.SimpleListFilter):
    """Appointment dates by the clinic's calendar (weeks start on Monday)."""

    title = "date"
    parameter_name = "when"

    def lookups(self, request, model_admin):
        return [
            ("today", "Today"),
            ("tomorrow", "Tomorrow"),
            ("this_week", "This week"),
            ("next_week", "Next week"),
            ("upcoming", "Upcoming (requested or confirmed)"),
            ("past", "Past"),
        ]

    def queryset(self, request, queryset):
        today = timezone.localdate()
        monday = schedule.week_start(today)
        ranges = {
            "today": (today, today + timedelta(days=1)),
            "tomorrow": (today + timedelta(days=1), today + timedelta(days=2)),
            "this_week": (monday, monday + timedelta(days=7)),
            "next_week": (monday + timedelta(days=7), monday + timedelta(days=14)),
        }
        if self.value() in ranges:
            first, after = ranges[self.value()]
            return queryset.filter(
                start__gte=schedule.local_midnight(first), start__lt=schedule.local_midnight(after)
            )
        if self.value() == "upcoming":
            # Coming appointments: a cancelled or declined one is not coming.
            return queryset.active().filter(start__gte=timezone.now())
        if self.value() == "past":
            return queryset.filter(start__lt=timezone.now())
        return queryset


class StatusNoteForm(forms.Form):
    note = forms.CharField(
        label="Message to the patient",
        required=False,
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 5, "cols": 60}),
        help_text="Sent in the patient's email, for example another time to offer. Optional.",
    )


class AppointmentForm(forms.ModelForm):
    """The change form: the overlap rule (the model's clean) is checked at the new time,
    and a new time never falls on a clinic closure or in the practitioner's time off."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # What is offered, and whatever this appointment already has.
        for name, model in (("service", Service), ("practitioner", Practitioner)):
            if name in self.fields:
                current = getattr(self.instance, f"{name}_id", None)
                self.fields[name].queryset = model.objects.filter(Q(is_active=True) | Q(pk=current))

    def clean_phone(self):
        phone = self.cleaned_data["phone"]
        if self.instance.pk and "phone" not in self.changed_data:
            return phone  # as it was: saving a note must not hang on an old number's form
        return callable_number(phone)

    def clean(self):
        cleaned_data = super().clean()
        start = cleaned_data.get("start")
        service = cleaned_data.get("service") or getattr(self.instance, "service", None)
        moved = {"start", "practitioner", "service"} & set(self.changed_data)
        # Only a new or moved appointment takes the service's length now: saving a note must
        # not shorten or stretch a booked visit because the service's length changed since.
        if start and service and (moved or self.instance.pk is None):
            # In UTC: local wall-clock arithmetic is an hour off across a DST change.
            self.instance.end = start.astimezone(UTC) + service.duration
            practitioner = cleaned_data.get("practitioner") or getattr(
                self.instance, "practitioner", None
            )
            if practitioner:
                absence = practitioner.absence(start, self.instance.end)
                if absence:
                    self.add_error("start", f"Not at this time: {absence}.")
        return cleaned_data


class AppointmentAddForm(AppointmentForm):
    """A booking staff enter themselves, usually for a patient on the phone."""

    status = forms.TypedChoiceField(
        choices=[
            (Status.CONFIRMED, "Confirmed: agreed with the patient now"),
            (Status.REQUESTED, "Requested: to be confirmed later"),
        ],
        initial=Status.CONFIRMED,
        coerce=Status,
        widget=AdminRadioSelect,
    )


class ReadOnlyInline(admin.TabularInline):
    """A record of what happened, shown with its appointment: nobody adds, edits or deletes it."""

    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class StatusChangeInline(ReadOnlyInline):
    """The appointment's history: read-only, as it happened."""

    model = StatusChange
    verbose_name = "change"
    verbose_name_plural = "history"
    fields = ["when", "who", "step", "note"]
    readonly_fields = fields

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("changed_by")

    @admin.display(description="when")
    def when(self, change):
        return when(change.changed_at)

    @admin.display(description="by")
    def who(self, change):
        if change.changed_by is None:
            return "Patient or system"
        return change.changed_by.get_full_name() or change.changed_by.get_username()

    @admin.display(description="what")
    def step(self, change):
        if change.is_reschedule:
            return "Moved"
        if not change.from_status:
            return f"Entered as {change.get_to_status_display().lower()}"
        return f"{change.get_from_status_display()} → {change.get_to_status_display()}"


def delivery_state(email):
    """What became of an email, in the words staff need to decide whether to resend it."""
    error = Truncator(email.last_error).chars(160)
    if email.status == OutgoingEmail.Status.SENT:
        return f"Sent {when(email.sent_at)}"
    if email.status == OutgoingEmail.Status.CLOSED:
        return f"Closed, not sent again. {error}"
    if email.status == OutgoingEmail.Status.FAILED:
        if not email.attempts:
            return f"Not sent: {error}"
        return f"Gave up after {email.attempts} attempt{pluralize(email.attempts)}: {error}"
    if email.status == OutgoingEmail.Status.SENDING:
        if emails.is_stuck(email):
            return (
                f"Interrupted while being sent ({when(email.claimed_at)}): it may not have "
                "arrived. Resend it if the patient did not get it, or close it if they did."
            )
        return "Being sent"
    if email.attempts:
        return f"Not sent yet; next try {when(email.next_attempt_at)}. Last error: {error}"
    return "Waiting to be sent"


class OutgoingEmailInline(ReadOnlyInline):
    """The emails about this appointment and what became of each."""

    model = OutgoingEmail
    verbose_name = "email"
    verbose_name_plural = "emails"
    fields = ["written", "kind", "to_address", "state"]
    readonly_fields = [*fields, "open_link"]

    def get_queryset(self, request):
        return super().get_queryset(request).order_by("created_at", "pk")

    def get_fields(self, request, obj=None):
        if OutgoingEmailAdmin.can_see_outbox(request):
            return [*self.fields, "open_link"]
        return self.fields

    def has_view_permission(self, request, obj=None):
        # Whoever may see the appointment may see what the patient was sent.
        return request.user.has_perm("booking.view_appointment")

    @admin.display(description="written")
    def written(self, email):
        return when(email.created_at)

    @admin.display(description="state")
    def state(self, email):
        return delivery_state(email)

    @admin.display(description="")
    def open_link(self, email):
        url = reverse("admin:booking_outgoingemail_change", args=[email.pk])
        return format_html('<a href="{}">Read or resend</a>', url)


@admin.register(Appointment)
class AppointmentAdmin(ModelAdmin):
    form = AppointmentForm
    # The model's own page is the patient's (reached by their signed link only).
    view_on_site = False
    list_display = [
        "reference",
        "patient",
        "local_start",
        "status_badge",
        "service",
        "practitioner",
        "requested",
    ]
    list_display_links = ["reference"]
    list_filter = ["status", WhenFilter, "service", "practitioner"]
    list_select_related = ["service", "practitioner"]
    search_fields = ["reference", "first_name", "last_name", "email", "phone"]
    search_help_text = "Reference, patient name, email or phone."
    # Drawn by the appointment_date_hierarchy tag (templatetags/clinic_admin.py): Django's
    # own lists the years with a scan of every appointment.
    date_hierarchy = "start"
    # New requests first, then the newest (index booking_appt_queue).
    ordering = [AWAITING_DECISION_FIRST_ORDER.asc(), "-created_at"]
    list_per_page = 50
    # "50 of 100,000": one count of the filtered rows is enough (no second, of all rows).
    show_full_result_count = False
    inlines = [StatusChangeInline, OutgoingEmailInline]
    actions = [
        "confirm",
        "decline",
        "complete",
        "mark_no_show",
        "cancel",
        "export_selected",
    ]
    readonly_fields = [
        "reference",
        "channel",
        "received",
        "created_by",
        "ends",
        "from_article",
        "service_name",
        "practitioner_name",
    ]

    # Who sees what.

    def get_queryset(self, request):
        return self.visible_to(request.user, super().get_queryset(request))

    @staticmethod
    def visible_to(user, queryset):
        """All appointments with the permission; otherwise a practitioner's own only."""
        if user.has_perm("booking.view_all_appointments"):
            return queryset
        return (
            queryset.filter(practitioner__user=user) if user.is_authenticated else queryset.none()
        )

    def sees_everyone(self, request):
        return request.user.has_perm("booking.view_all_appointments")

    def get_object(self, request, object_id, from_field=None):
        # Someone else's appointment is as absent as a missing one (404): no redirect that
        # hints at what exists.
        obj = super().get_object(request, object_id, from_field)
        if obj is None and self.has_view_or_change_permission(request):
            raise Http404("No such appointment.")
        return obj  # None without any permission: the admin answers 403

    def has_export_permission(self, request):
        return request.user.has_perm("booking.export_appointments")

    def get_list_filter(self, request):
        if self.sees_everyone(request):
            return self.list_filter
        return [f for f in self.list_filter if f != "practitioner"]

    # The list.

    @admin.display(description="patient", ordering="last_name")
    def patient(self, appointment):
        return appointment.patient_name

    @admin.display(description="when", ordering="start")
    def local_start(self, appointment):
        return when(appointment.start)

    @admin.display(description="status", ordering="status")
    def status_badge(self, appointment):
        return format_html(
            '<span class="status-badge status-{}">{}</span>',
            appointment.status,
            appointment.get_status_display(),
        )

    @admin.display(description="received")
    def received(self, appointment):
        return when(appointment.created_at)

    @admin.display(description="end")
    def ends(self, appointment):
        return when(appointment.end)

    @admin.display(description="Booked from the article")
    def from_article(self, appointment):
        # What the patient was reading: their page, for staff to read too.
        article = appointment.source_article
        return format_html('<a href="{}">{}</a>', article.get_absolute_url(), article.title)

    @admin.display(description="requested", ordering="created_at")
    def requested(self, appointment):
        age = timesince(appointment.created_at, timezone.now(), depth=1)
        waiting = appointment.status == Status.REQUESTED and (
            timezone.now() - appointment.created_at > timedelta(days=1)
        )
        return format_html(
            '<time datetime="{}" title="{}"{}>{} ago</time>',
            appointment.created_at.isoformat(),
            when(appointment.created_at),
            format_html(' class="{}"', "waiting-long") if waiting else "",
            age,
        )

    def get_search_results(self, request, queryset, search_term):
        results, may_have_duplicates = super().get_search_results(request, queryset, search_term)
        # Phones are stored as +12125550123; staff type them as (212) 555-0123.
        digits = "".join(c for c in search_term if c.isdigit())
        if len(digits) >= 4 and not any(c.isalpha() for c in search_term):
            results |= queryset.filter(phone__icontains=digits)  # uses the search index
        return results, may_have_duplicates

    def get_ordering(self, request):
        # A day, a week or what is coming reads in time order; the past, latest first. The
        # list without a date is the front desk's queue: new requests first.
        when = request.GET.get(WhenFilter.parameter_name)
        if when == "past":
            return ["-start"]
        if when:
            return ["start"]
        return super().get_ordering(request)

    def changelist_view(self, request, extra_context=None):
        if (
            not request.GET
            and self.has_view_permission(request)
            and not self.sees_everyone(request)
        ):
            # A practitioner's list opens on their own coming appointments.
            return redirect(f"{request.path}?{WhenFilter.parameter_name}=upcoming")
        extra_context = {
            "title": "Appointments",
            "schedule_url": reverse("admin:booking_appointment_schedule"),
            "export_url": (
                reverse("admin:booking_appointment_export") + "?" + request.GET.urlencode()
                if self.has_export_permission(request)
                else None
            ),
            **(extra_context or {}),
        }
        return super().changelist_view(request, extra_context)

    # The form.

    def get_inlines(self, request, obj):
        # A new appointment has no history yet.
        return self.inlines if obj is not None else []

    def get_form(self, request, obj=None, change=False, **kwargs):
        if obj is None:
            kwargs["form"] = AppointmentAddForm
        return super().get_form(request, obj, change, **kwargs)

    def get_fieldsets(self, request, obj=None):
        if obj is None:
            return [
                (None, {"fields": ["status", ("service", "practitioner"), "start"]}),
                (
                    "Patient",
                    {"fields": PATIENT_FIELDSETS},
                ),
                ("For staff", {"fields": ["staff_notes"]}),
            ]
        movable = obj.is_active and self.has_change_permission(request, obj)
        service = self.linked_if_allowed(request, "service", Service)
        practitioner = (
            "practitioner"
            if movable
            else self.linked_if_allowed(request, "practitioner", Practitioner)
        )
        return [
            (None, {"fields": [("reference", "channel"), ("received", "created_by")]}),
            (
                "Appointment",
                {
                    "fields": [(service, practitioner), ("start", "ends")],
                    "description": (
                        "To reschedule, change the start or the practitioner and save."
                        if movable
                        else None
                    ),
                },
            ),
            (
                "Patient" if obj.channel == Appointment.Channel.STAFF else "As the patient sent it",
                {
                    "fields": [
                        *PATIENT_FIELDSETS,
                        ("consent_at", "consent_version"),
                        *(["from_article"] if obj.source_article_id else []),
                    ]
                },
            ),
            ("For staff", {"fields": ["staff_notes"]}),
        ]

    def linked_if_allowed(self, request, name, model):
        """The field (shown as a link to its page) if this user may open that page, else its
        name as text: a practitioner has no access to the clinic's set-up."""
        if self.admin_site.get_model_admin(model).has_view_permission(request):
            return name
        return f"{name}_name"

    @admin.display(description="service")
    def service_name(self, appointment):
        return appointment.service.name

    @admin.display(description="practitioner")
    def practitioner_name(self, appointment):
        return appointment.practitioner.name

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return []
        readonly = [*self.readonly_fields, "service", "consent_at", "consent_version"]
        # Shown as entered: the patient's own words are never edited by staff.
        if obj.channel == Appointment.Channel.ONLINE:
            readonly += PATIENT_FIELDS
        if not obj.is_active:
            readonly += ["start", "practitioner"]
        return readonly

    def formfield_for_dbfield(self, db_field, request, **kwargs):
        formfield = super().formfield_for_dbfield(db_field, request, **kwargs)
        if db_field.name in ("service", "practitioner") and formfield is not None:
            # Choosing is the job here; set-up has its own pages.
            widget = formfield.widget
            widget.can_add_related = widget.can_change_related = False
            widget.can_delete_related = widget.can_view_related = False
        return formfield

    def get_changeform_initial_data(self, request):
        initial = super().get_changeform_initial_data(request)
        # The schedule links a free time to the add form with ?start=<ISO>&practitioner=<id>.
        if isinstance(initial.get("start"), str):
            try:
                start = datetime.fromisoformat(initial["start"])
                start = timezone.make_aware(start) if timezone.is_naive(start) else start
                timezone.localtime(start)  # shown in clinic time: year 1 or 9999 cannot be
            except (ValueError, OverflowError):
                del initial["start"]
            else:
                initial["start"] = start
        return initial

    def save_model(self, request, obj, form, change):
        if not change:
            obj.channel = Appointment.Channel.STAFF
            obj.created_by = request.user
            obj.book(by=request.user)
            self.warn_if_outside_working_hours(request, [obj])
            return
        moved = {"start", "practitioner"} & set(form.changed_data)
        if not moved:
            # Only what was edited: a cancellation, or a reminder sent, while the form was
            # open stays as it is (a whole-row save would write back what the form read).
            columns = {field.name for field in obj._meta.concrete_fields}
            obj.save(update_fields={*form.changed_data, "updated_at"} & columns)
            return
        # Reschedule from the stored appointment, so its history says where it moved from.
        stored = Appointment.objects.select_related("service").get(pk=obj.pk)
        for name in set(form.changed_data) - moved:
            setattr(stored, name, getattr(obj, name))
        stored.reschedule(obj.start, practitioner=obj.practitioner, by=request.user)
        obj.end, obj.sequence = stored.end, stored.sequence
        self.warn_if_outside_working_hours(request, [obj])

    def warn_if_outside_working_hours(self, request, appointments):
        """Saved, but say so: a phone booking outside the hours may be agreed on purpose."""
        for appointment in appointments:
            practitioner = appointment.practitioner
            if not practitioner.works(appointment.start, appointment.end):
                self.message_user(
                    request,
                    f"{appointment.reference} is outside {practitioner.name}'s working "
                    "hours: check that this was agreed.",
                    messages.WARNING,
                )

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except (SlotTaken, PractitionerAway, TransitionNotAllowed) as error:
            # Someone else took the time between the check and the save: nothing was saved.
            self.message_user(
                request,
                str(error)
                or "The practitioner already has an appointment at this time. "
                "Nothing was changed; choose another time.",
                messages.ERROR,
            )
            return HttpResponseRedirect(request.get_full_path())
        except (Appointment.NotUpdated, Appointment.DoesNotExist):
            # Deleted while its page was open (purge_requests): saving must not bring it back.
            self.message_user(
                request,
                "This appointment was deleted while its page was open (old requests are "
                "purged after a while). Nothing was saved.",
                messages.ERROR,
            )
            return HttpResponseRedirect(reverse("admin:booking_appointment_changelist"))

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        buttons = []
        if obj is not None and self.has_change_permission(request, obj):
            buttons = [
                {
                    "status": status.value,
                    "label": step["button"],
                    "asks_note": step["asks_note"],
                    "url": reverse("admin:booking_appointment_status", args=[obj.pk, status]),
                }
                for status, step in WORKFLOW.items()
                if obj.can_change_to(status)
            ]
        context["workflow_buttons"] = buttons
        return super().render_change_form(request, context, add, change, form_url, obj)

    # Status changes.

    def change_statuses(self, request, queryset, status, note=""):
        """Move each appointment through the workflow; report what changed and what not."""
        changed, refused = [], []
        queryset = (
            queryset.select_related("service", "practitioner")
            .prefetch_related("practitioner__working_hours")  # for the working-hours warning
            .order_by("start", "pk")
        )
        for appointment in queryset:
            try:
                appointment.change_status(status, by=request.user, note=note)
            except (TransitionNotAllowed, SlotTaken, PractitionerAway) as error:
                refused.append(str(error))
            else:
                changed.append(appointment)
        verb = WORKFLOW[status]["verb"]
        if changed:
            self.message_user(
                request,
                f"{len(changed)} appointment{'s' if len(changed) != 1 else ''} {verb}: "
                f"{', '.join(a.reference for a in changed)}.",
                messages.SUCCESS,
            )
            if status == Status.CONFIRMED:
                self.warn_if_outside_working_hours(request, changed)
        if refused:
            self.message_user(
                request,
                f"{len(refused)} not {verb}: {' '.join(refused)}",
                messages.WARNING,
            )
        return changed, refused

    def ask_note_then_change(self, request, queryset, status):
        """Decline or cancel: a page to write the patient a message first."""
        if "apply" in request.POST:
            form = StatusNoteForm(request.POST)
            if form.is_valid():
                self.change_statuses(request, queryset, status, note=form.cleaned_data["note"])
                return None
        else:
            form = StatusNoteForm()
        return self.render_note_page(
            request,
            status,
            form,
            queryset,
            action=request.POST.get("action", ""),
            select_across=request.POST.get("select_across", "0"),
            hidden_pks=request.POST.getlist(helpers.ACTION_CHECKBOX_NAME),
            cancel_url=request.get_full_path(),
        )

    def render_note_page(self, request, status, form, queryset, **context):
        shown = 100
        appointments = list(queryset.select_related("service", "practitioner")[: shown + 1])
        more = queryset.count() - shown if len(appointments) > shown else 0
        button = WORKFLOW[status]["button"].rstrip("…")
        count = len(appointments)
        title = {
            Status.DECLINED: ("Decline this request", "Decline these requests"),
            Status.CANCELLED: ("Cancel this appointment", "Cancel these appointments"),
        }.get(status, (f"{button}: this appointment", f"{button}: these appointments"))
        return TemplateResponse(
            request,
            "admin/booking/appointment/status_note.html",
            {
                **self.admin_site.each_context(request),
                "title": title[0] if count == 1 else title[1],
                "opts": self.opts,
                "status": status,
                "verb": WORKFLOW[status]["verb"],
                "button": button,
                "form": form,
                "rows": [
                    {"appointment": a, "allowed": a.can_change_to(status), "when": when(a.start)}
                    for a in appointments[:shown]
                ],
                "more": more,
                "media": self.media + form.media,
                **context,
            },
        )

    @admin.action(description="Confirm selected requests", permissions=["change"])
    def confirm(self, request, queryset):
        self.change_statuses(request, queryset, Status.CONFIRMED)

    @admin.action(description="Decline selected requests…", permissions=["change"])
    def decline(self, request, queryset):
        return self.ask_note_then_change(request, queryset, Status.DECLINED)

    @admin.action(description="Mark selected as completed", permissions=["change"])
    def complete(self, request, queryset):
        self.change_statuses(request, queryset, Status.COMPLETED)

    @admin.action(description="Mark selected as no-show", permissions=["change"])
    def mark_no_show(self, request, queryset):
        self.change_statuses(request, queryset, Status.NO_SHOW)

    @admin.action(description="Cancel selected appointments…", permissions=["change"])
    def cancel(self, request, queryset):
        return self.ask_note_then_change(request, queryset, Status.CANCELLED)

    @admin.action(description="Export selected to CSV", permissions=["export"])
    def export_selected(self, request, queryset):
        return appointments_csv_response(queryset)

    # Pages of our own.

    def get_urls(self):
        return [
            path(
                "schedule/",
                self.admin_site.admin_view(self.schedule_view),
                name="booking_appointment_schedule",
            ),
            path(
                "export/",
                self.admin_site.admin_view(self.export_view),
                name="booking_appointment_export",
            ),
            path(
                "<path:object_id>/status/<slug:status>/",
                self.admin_site.admin_view(self.status_view),
                name="booking_appointment_status",
            ),
            *super().get_urls(),
        ]

    def status_view(self, request, object_id, status):
        """One appointment's status change, from the buttons of its page."""
        if request.method not in ("GET", "POST"):
            return HttpResponseNotAllowed(["GET", "POST"])
        if status not in WORKFLOW:
            raise Http404("No such status.")
        status = Status(status)
        appointment = self.get_object(request, unquote(object_id))
        if not self.has_change_permission(request, appointment):
            raise PermissionDenied
        change_url = reverse("admin:booking_appointment_change", args=[appointment.pk])
        form = StatusNoteForm(request.POST if request.method == "POST" else None)
        if request.method == "POST" and form.is_valid():
            self.change_statuses(
                request,
                self.get_queryset(request).filter(pk=appointment.pk),
                status,
                note=form.cleaned_data["note"],
            )
            return redirect(change_url)
        return self.render_note_page(
            request,
            status,
            form,
            self.get_queryset(request).filter(pk=appointment.pk),
            single=True,
            cancel_url=change_url,
        )

    def export_view(self, request):
        """The list as filtered and searched, as a CSV file (GET: it changes nothing)."""
        if not (self.has_view_permission(request) and self.has_export_permission(request)):
            raise PermissionDenied
        try:
            changelist = self.get_changelist_instance(request)
        except IncorrectLookupParameters:
            return redirect(reverse("admin:booking_appointment_changelist") + "?e=1")
        return appointments_csv_response(changelist.get_queryset(request))

    def schedule_view(self, request):
        if not self.has_view_permission(request):
            raise PermissionDenied
        view = "week" if request.GET.get("view") == "week" else "day"
        today = timezone.localdate()
        try:
            day = date.fromisoformat(request.GET.get("date", ""))
        except ValueError:
            day = today
        if not SCHEDULE_FIRST_DAY <= day <= SCHEDULE_LAST_DAY:
            day = today
        if view == "week":
            first_day, length, step = schedule.week_start(day), 7, timedelta(days=7)
        else:
            first_day, length, step = day, 1, timedelta(days=1)
        practitioners = Practitioner.objects.all()
        if not self.sees_everyone(request):
            practitioners = practitioners.filter(user=request.user)
        layout = schedule.load_schedule(
            first_day, length, self.get_queryset(request), practitioners
        )

        def link(to_day, to_view=view):
            return "?" + urlencode({"view": to_view, "date": to_day.isoformat()})

        last_day = first_day + timedelta(days=length - 1)
        title = (
            formats.date_format(day, "l, F j, Y")
            if view == "day"
            else f"Week of {formats.date_format(first_day, 'F j, Y')}"
        )
        context = {
            **self.admin_site.each_context(request),
            "title": "Schedule",
            "subtitle": title,
            "heading": title,
            "opts": self.opts,
            "view": view,
            "day": day,
            "today": today,
            "last_day": last_day,
            "layout": layout,
            "row_minutes": schedule.ROW_MINUTES,
            "links": {
                "previous": link(first_day - step),
                "next": link(first_day + step),
                "today": link(today),
                "day": link(day if view == "day" else max(first_day, min(today, last_day)), "day"),
                "week": link(day, "week"),
            },
            "can_add": self.has_add_permission(request),
            "add_url": reverse("admin:booking_appointment_add"),
            "changelist_url": reverse("admin:booking_appointment_changelist"),
        }
        return TemplateResponse(request, "admin/booking/appointment/schedule.html", context)


# Export.


def local_minute(moment):
    return timezone.localtime(moment).strftime("%Y-%m-%d %H:%M") if moment else ""


CSV_COLUMNS = [
    ("Reference", lambda a: a.reference),
    ("Status", lambda a: a.get_status_display()),
    ("Status since", lambda a: local_minute(a.status_since)),
    ("Date", lambda a: timezone.localtime(a.start).date().isoformat()),
    ("Start", lambda a: timezone.localtime(a.start).strftime("%H:%M")),
    ("End", lambda a: timezone.localtime(a.end).strftime("%H:%M")),
    ("Service", lambda a: a.service.name),
    ("Practitioner", lambda a: a.practitioner.name),
    ("First name", lambda a: a.first_name),
    ("Last name", lambda a: a.last_name),
    ("Email", lambda a: a.email),
    ("Phone", lambda a: a.phone),
    ("New patient", lambda a: "yes" if a.is_new_patient else "no"),
    ("Concern", lambda a: a.get_concern_display()),
    ("Channel", lambda a: a.get_channel_display()),
    ("Requested at", lambda a: local_minute(a.created_at)),
    ("From article", lambda a: a.source_article.title if a.source_article else ""),
]
# A cell beginning with one of these is a formula to a spreadsheet (CSV injection).
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(value):
    """The text of a cell, with a leading apostrophe if a spreadsheet would run it."""
    text = str(value)
    return "'" + text if text.startswith(FORMULA_TRIGGERS) else text


class _Echo:
    def write(self, value):
        return value


def appointments_csv_response(queryset):
    """Stream the appointments as CSV, a row at a time, whatever their number."""
    writer = csv.writer(_Echo())
    # When each got its present status (a cancellation's date, for a month's report).
    status_since = (
        StatusChange.objects.filter(
            appointment=OuterRef("pk"), to_status=OuterRef("status"), is_reschedule=False
        )
        .order_by("-changed_at")
        .values("changed_at")[:1]
    )
    appointments = (
        queryset.select_related("service", "practitioner", "source_article")
        .annotate(status_since=Subquery(status_since))
        .iterator(chunk_size=2000)
    )

    def rows():
        # A byte-order mark, so that spreadsheet programs read accented names right.
        yield "\ufeff" + writer.writerow([name for name, _ in CSV_COLUMNS])
        for appointment in appointments:
            yield writer.writerow([spreadsheet_safe(cell(appointment)) for _, cell in CSV_COLUMNS])

    filename = f"appointments-{timezone.localdate().isoformat()}.csv"
    return StreamingHttpResponse(
        rows(),
        content_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


# The clinic's set-up.


class LastInOrder:
    """A new row is proposed after the others: on the request form, the first service is
    the one chosen for the patient, and a new one should not push it down unasked."""

    def get_changeform_initial_data(self, request):
        initial = super().get_changeform_initial_data(request)
        highest = self.model.objects.aggregate(highest=Max("position"))["highest"]
        initial.setdefault("position", 0 if highest is None else highest + 1)
        return initial


@admin.register(Service)
class ServiceAdmin(LastInOrder, ModelAdmin):
    list_display = ["name", "duration_minutes", "price", "by_phone", "is_active", "position"]
    list_filter = ["is_active", "by_phone"]
    search_fields = ["name"]
    prepopulated_fields = {"slug": ["name"]}


class WorkingHoursFormSet(forms.BaseInlineFormSet):
    """One day's ranges may touch (9-12, 12-17) but not overlap: which one would hold?"""

    def clean(self):
        super().clean()
        by_day = {}
        for form in self.forms:
            data = getattr(form, "cleaned_data", None)
            if (
                not data
                or data.get("DELETE")
                or data.get("weekday") is None  # its own error says the day is missing
                or not data.get("start_time")
                or not data.get("end_time")
            ):
                continue
            by_day.setdefault(data["weekday"], []).append((data["start_time"], data["end_time"]))
        problems = []
        for weekday, ranges in sorted(by_day.items()):
            ranges.sort()
            for (start, end), (next_start, next_end) in zip(ranges, ranges[1:], strict=False):
                if next_start < end:
                    problems.append(
                        f"{WorkingHours.Weekday(weekday).label}: "
                        f"{time_label(start)}–{time_label(end)} and "
                        f"{time_label(next_start)}–{time_label(next_end)} overlap. Join them "
                        "into one range, or make one end where the next begins."
                    )
        if problems:
            raise forms.ValidationError(problems)


def time_label(moment):
    return formats.time_format(moment, "TIME_FORMAT")


class WorkingHoursInline(admin.TabularInline):
    model = WorkingHours
    formset = WorkingHoursFormSet
    extra = 1


class TimeOffInline(admin.TabularInline):
    model = TimeOff
    extra = 0


def warn_about_appointments_in(model_admin, request, appointments, what):
    """Name the active appointments a new closure or time off covers: kept as they are,
    for staff to move, decline or cancel (the patients are told when they do)."""
    appointments = list(appointments.select_related("practitioner").order_by("start"))
    if not appointments:
        return
    count = len(appointments)
    model_admin.message_user(
        request,
        format_html(
            "{} active appointment{} {} in this {}: {}. They are kept as they are: move, "
            "decline or cancel them, and the patients are told.",
            count,
            "s" if count != 1 else "",
            "fall" if count != 1 else "falls",
            what,
            format_html_join(
                ", ",
                '<a href="{}">{}</a> ({}, {})',
                (
                    (
                        reverse("admin:booking_appointment_change", args=[a.pk]),
                        a.reference,
                        when(a.start),
                        a.practitioner.name,
                    )
                    for a in appointments
                ),
            ),
        ),
        messages.WARNING,
    )


@admin.register(Practitioner)
class PractitionerAdmin(LastInOrder, ModelAdmin):
    list_display = ["name", "is_active", "user", "position"]
    list_filter = ["is_active"]
    list_select_related = ["user"]
    search_fields = ["name"]
    prepopulated_fields = {"slug": ["name"]}
    inlines = [WorkingHoursInline, TimeOffInline]

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "user":
            kwargs["queryset"] = get_user_model().objects.filter(is_staff=True)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def save_formset(self, request, form, formset, change):
        super().save_formset(request, form, formset, change)
        if formset.model is TimeOff:
            saved = formset.new_objects + [time_off for time_off, _ in formset.changed_objects]
            for time_off in saved:
                warn_about_appointments_in(
                    self,
                    request,
                    Appointment.objects.active()
                    .filter(practitioner_id=time_off.practitioner_id)
                    .overlapping(time_off.start, time_off.end),
                    "time off",
                )


@admin.register(ClinicClosure)
class ClinicClosureAdmin(ModelAdmin):
    list_display = ["reason", "start_date", "end_date"]
    date_hierarchy = "start_date"
    ordering = ["-start_date"]
    search_fields = ["reason"]

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        tz = timezone.get_current_timezone()
        # A closure for good may be entered to the calendar's last day (9999-12-31), whose
        # next day does not exist: its appointments are all before then anyway.
        last_day = min(obj.end_date, date.max - timedelta(days=1))
        opens = datetime.combine(min(obj.start_date, last_day), datetime.min.time(), tzinfo=tz)
        reopens = datetime.combine(last_day + timedelta(days=1), datetime.min.time(), tzinfo=tz)
        warn_about_appointments_in(
            self,
            request,
            Appointment.objects.active().overlapping(opens, reopens),
            f"closure ({obj.reason})",
        )


@admin.register(Clinic)
class ClinicAdmin(ModelAdmin):
    """The one record of the clinic's details and booking rules."""

    fieldsets = [
        (
            "Details shown to patients",
            {
                "fields": [
                    "name",
                    "tagline",
                    "street_address",
                    "locality",
                    "region",
                    "postal_code",
                    "country",
                    "phone",
                    "email",
                    "opening_hours_text",
                    "map_url",
                ]
            },
        ),
        (
            "Online booking rules",
            {
                "fields": [
                    "minimum_notice_hours",
                    "booking_horizon_days",
                    "slot_grid_minutes",
                    "buffer_minutes",
                    "cancellation_notice_hours",
                ]
            },
        ),
    ]

    def has_add_permission(self, request):
        # Clinic.load() creates the one record (with placeholders) on first use.
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def changelist_view(self, request, extra_context=None):
        # One record: go straight to it.
        if not self.has_view_or_change_permission(request):
            raise PermissionDenied
        return redirect("admin:booking_clinic_change", Clinic.load().pk)


# The outbox.


class DeliveryFilter(admin.SimpleListFilter):
    title = "state"
    parameter_name = "state"

    def lookups(self, request, model_admin):
        return [
            ("attention", "Needs attention (failed or interrupted)"),
            ("waiting", "Waiting or retrying"),
            ("sent", "Sent"),
        ]

    def queryset(self, request, queryset):
        if self.value() == "attention":
            return queryset.filter(emails.needs_attention())
        if self.value() == "waiting":
            return queryset.filter(status=OutgoingEmail.Status.PENDING)
        if self.value() == "sent":
            return queryset.filter(status=OutgoingEmail.Status.SENT)
        return queryset


@admin.register(OutgoingEmail)
class OutgoingEmailAdmin(ModelAdmin):
    """Every email the site wrote, what became of it, and a way to send one again.

    A record of what patients were told: nobody edits or deletes it here.
    """

    list_display = ["written", "kind", "appointment_link", "to_address", "state"]
    list_filter = [DeliveryFilter, "kind"]
    list_select_related = ["appointment"]
    search_fields = ["appointment__reference", "to_address"]
    search_help_text = "Appointment reference or email address."
    actions = ["resend_selected", "do_not_send_again"]
    fields = [
        "appointment_link",
        "kind",
        "to_address",
        "subject",
        "state",
        "attempts",
        "written",
        "message",
        "calendar_file",
    ]
    readonly_fields = fields
    change_form_template = "admin/booking/outgoingemail/change_form.html"

    # Seeing every patient's emails goes with seeing every appointment.

    @staticmethod
    def can_see_outbox(request):
        return request.user.has_perm("booking.view_all_appointments")

    def has_view_permission(self, request, obj=None):
        return self.can_see_outbox(request)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def has_resend_permission(self, request):
        return self.can_see_outbox(request) and request.user.has_perm("booking.change_appointment")

    @admin.display(description="written", ordering="created_at")
    def written(self, email):
        return when(email.created_at)

    @admin.display(description="appointment", ordering="appointment__reference")
    def appointment_link(self, email):
        if email.appointment is None:
            return "–"
        url = reverse("admin:booking_appointment_change", args=[email.appointment_id])
        return format_html('<a href="{}">{}</a>', url, email.appointment.reference)

    @admin.display(description="state", ordering="status")
    def state(self, email):
        return delivery_state(email)

    @admin.display(description="message (plain-text part)")
    def message(self, email):
        return email.body_text

    @admin.display(description="calendar file")
    def calendar_file(self, email):
        return email.ics or "None"

    def resend(self, request, queryset):
        """Send each again now, and report what went out and what stays queued."""
        resent, busy, outdated = [], 0, 0
        for email, refusal in emails.resend_refusals(queryset):
            if not refusal:
                resent.append(emails.resend(email).pk)
            elif refusal == emails.BEING_SENT:
                busy += 1
            else:
                outdated += 1
        emails.send_queued(resent)
        outcomes = dict(
            OutgoingEmail.objects.filter(pk__in=resent)
            .values_list("status")
            .annotate(count=Count("pk"))
            .order_by()
        )
        sent = outcomes.get(OutgoingEmail.Status.SENT, 0)
        waiting = outcomes.get(OutgoingEmail.Status.PENDING, 0)
        refused = outcomes.get(OutgoingEmail.Status.FAILED, 0)
        if sent:
            self.message_user(
                request, f"{sent} email{'s' if sent != 1 else ''} sent again.", messages.SUCCESS
            )
        if waiting:
            self.message_user(
                request,
                f"{waiting} email{'s' if waiting != 1 else ''} could not be sent now: "
                "they stay in the queue and are retried automatically.",
                messages.WARNING,
            )
        if refused:
            # Refused for good (an unknown mailbox, say): nothing will try it again, and the
            # patient has not heard from us. The reason is on each email's page.
            self.message_user(
                request,
                f"{refused} email{'s' if refused != 1 else ''} could not be sent and will "
                "not be retried (the mail server refused it, or it no longer holds): see "
                f"the reason on {'their pages' if refused != 1 else 'its page'}; if the "
                "address is wrong, call the patient.",
                messages.ERROR,
            )
        if busy:
            self.message_user(
                request,
                f"{busy} email{'s' if busy != 1 else ''} skipped: being sent right now.",
                messages.WARNING,
            )
        if outdated:
            self.message_user(
                request,
                f"{outdated} email{'s' if outdated != 1 else ''} skipped: "
                f"{'it no longer holds' if outdated == 1 else 'they no longer hold'} "
                "(the appointment has changed since).",
                messages.WARNING,
            )

    @admin.action(description="Send selected emails again", permissions=["resend"])
    def resend_selected(self, request, queryset):
        self.resend(request, queryset)

    @admin.action(
        description="Close interrupted emails: do not send them again", permissions=["resend"]
    )
    def do_not_send_again(self, request, queryset):
        """For an interrupted email the patient got after all, or no longer needs."""
        closed = skipped = 0
        for email in queryset:
            why = f"closed by {request.user.get_username()}, who chose not to send it again."
            if emails.is_stuck(email) and emails.close_interrupted(email, why):
                closed += 1
            else:
                skipped += 1
        if closed:
            self.message_user(
                request,
                f"{closed} email{'s' if closed != 1 else ''} closed: "
                f"{'it' if closed == 1 else 'they'} will not be sent again.",
                messages.SUCCESS,
            )
        if skipped:
            self.message_user(
                request,
                f"{skipped} email{'s' if skipped != 1 else ''} skipped: only an email "
                "interrupted while being sent can be closed.",
                messages.WARNING,
            )

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        if request.method == "POST" and "_resend" in request.POST and object_id:
            if not self.has_resend_permission(request):
                raise PermissionDenied
            email = self.get_object(request, unquote(object_id))
            if email is None:
                raise Http404("No such email.")
            self.resend(request, OutgoingEmail.objects.filter(pk=email.pk))
            return redirect(request.get_full_path())
        email = self.get_object(request, unquote(object_id)) if object_id else None
        may_resend = bool(email and self.has_resend_permission(request))
        refusal = ""
        if may_resend:
            ((_, refusal),) = emails.resend_refusals(OutgoingEmail.objects.filter(pk=email.pk))
        extra_context = {
            "can_resend": may_resend and not refusal,
            "resend_refusal": refusal,
            "resend_label": {
                OutgoingEmail.Status.PENDING: "Send it now",
                OutgoingEmail.Status.SENT: "Send this email again",
            }.get(email.status if email else None, "Try sending it again"),
            **(extra_context or {}),
        }
        return super().changeform_view(request, object_id, form_url, extra_context)


# Staff accounts and groups (the roles this app's migrations create): Django's own admins,
# with the same guard against forged row ids as ours (auth's admin has loaded by now).
guard_auth_admins()
