"""Emails to patients and staff, sent through an outbox (OutgoingEmail).

Why an outbox table rather than Django's tasks framework: a message row is written in the
same transaction as the change it announces, so a booking and its emails commit or roll
back together; each row shows staff what a patient was sent, when, and why not; and a
conditional UPDATE claims a row, so two senders never both send it. The tasks framework
would need a worker process besides cron and would still not show staff what went out.

After the commit, the new rows are tried at once (`send_soon`: in a request, by a thread of
the worker once its response has gone out and it has a moment between requests); whatever
fails stays in the outbox and `send_pending_emails` retries it with backoff until it gives up.
"""

import atexit
import contextlib
import logging
import os
import queue
import re
import smtplib
import threading
import time
from datetime import datetime, timedelta
from datetime import time as time_of_day
from email.utils import formataddr, parseaddr
from urllib.parse import urlencode

from django.conf import settings
from django.core import mail
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import close_old_connections, connections, transaction
from django.db.models import F, OuterRef, Q, Subquery
from django.db.models.functions import Coalesce
from django.template.loader import render_to_string
from django.urls import NoReverseMatch, reverse
from django.utils import dateformat, timezone

from booking.calendar import appointment_ics
from booking.models import Appointment, Clinic, OutgoingEmail, StatusChange

logger = logging.getLogger(__name__)

Kind = OutgoingEmail.Kind
Status = Appointment.Status

# Retries: 2, 4, 8 ... minutes apart, at most 6 hours apart; given up after 10 attempts,
# about 14½ hours after the first: a mail server down overnight is waited out.
MAX_ATTEMPTS = 10
FIRST_RETRY_DELAY = timedelta(minutes=2)
LONGEST_RETRY_DELAY = timedelta(hours=6)
# A row claimed this long ago and still "sending" was interrupted (a crash, a kill): it may
# or may not have gone out, so it is shown to staff instead of being sent a second time.
STUCK_AFTER = timedelta(minutes=15)

# A reminder goes out on the day before the appointment (the clinic's calendar), at this
# time of day: one morning email about tomorrow, whatever the appointment's hour...
REMINDER_TIME = time_of_day(10)
# ...or earlier, when cancelling online closes before then (a morning appointment, with the
# default 24 hours' notice): this long before it closes, so that a patient the reminder
# finds unable to come can still give the time up online, for someone else to take.
REMINDER_BEFORE_CANCEL_DEADLINE = timedelta(hours=2)

STAFF_KINDS = {Kind.STAFF_NEW_REQUEST, Kind.STAFF_CANCELLED}

# Subjects carry no patient data beyond a first name and the reference (and a reminder's
# day and time).
SUBJECTS = {
    Kind.REQUEST_RECEIVED: "We received your request {reference}",
    Kind.CONFIRMED: "Your appointment is confirmed ({reference})",
    Kind.RESCHEDULED: "Your appointment has a new time ({reference})",
    Kind.DECLINED: "We cannot offer the time you asked for ({reference})",
    Kind.CANCELLED: "Your appointment is cancelled ({reference})",
    # Its day and time, read from the phone's notification at a glance.
    Kind.REMINDER: "Reminder: your appointment on {day} at {start} ({reference})",
    Kind.STAFF_NEW_REQUEST: "New request {reference} from {first_name}",
    Kind.STAFF_CANCELLED: "{first_name} cancelled {reference}",
}
# Until staff confirm it, what the patient asked for is a request, not an appointment.
REQUEST_SUBJECTS = {
    Kind.RESCHEDULED: "Your request has a new time ({reference})",
    Kind.CANCELLED: "Your request is cancelled ({reference})",
}


# Which messages a change calls for


def kinds_for_change(change):
    """The messages one step of an appointment's history calls for."""
    by_patient = change.changed_by_id is None
    if change.is_reschedule:
        return [Kind.RESCHEDULED]
    if change.to_status == Status.REQUESTED:
        # Staff who enter a request by phone already know about it.
        if by_patient:
            return [Kind.REQUEST_RECEIVED, Kind.STAFF_NEW_REQUEST]
        return [Kind.REQUEST_RECEIVED]
    if change.to_status == Status.CONFIRMED:
        return [Kind.CONFIRMED]
    if change.to_status == Status.DECLINED:
        return [Kind.DECLINED]
    if change.to_status == Status.CANCELLED:
        return [Kind.CANCELLED, Kind.STAFF_CANCELLED] if by_patient else [Kind.CANCELLED]
    # Completed and no-show: nothing to tell anyone.
    return []


def queue_for_change(appointment, change):
    """Queue the emails that an appointment's change calls for.

    Called by the workflow inside its transaction: the rows commit with the change, and
    are sent once it has committed.
    """
    if change.is_reschedule or change.to_status == Status.CANCELLED:
        _withdraw_pending_reminders(appointment)
    if change.is_reschedule and appointment.reminder_sent_at:
        # The new time deserves its own reminder.
        Appointment.objects.filter(pk=appointment.pk).update(reminder_sent_at=None)
        appointment.reminder_sent_at = None
    rows = [compose(kind, appointment, change=change) for kind in kinds_for_change(change)]
    _queue(rows)
    return rows


# How a row given up on because it no longer held begins its last_error: there is nothing
# for staff to do about it, unlike an email the mail server refused (see needs_attention).
NO_LONGER_HOLDS = "Not sent: "
WITHDRAWN = "Withdrawn: "


def _withdraw_pending_reminders(appointment):
    appointment.emails.filter(kind=Kind.REMINDER, status=OutgoingEmail.Status.PENDING).update(
        status=OutgoingEmail.Status.FAILED,
        last_error=f"{WITHDRAWN}the appointment was moved or cancelled before it went out.",
    )


# Composing a message


def compose(kind, appointment, *, change=None):
    """An unsaved outbox row: the message rendered from its templates."""
    clinic = Clinic.load()
    by_staff = bool(change and change.changed_by_id)
    context = {
        "appointment": appointment,
        "clinic": clinic,
        "first_name": one_line(appointment.first_name),
        "when": local_time(appointment),
        "link": absolute_url(appointment.patient_url),
        # Another time with the same treatment, as the patient's page offers it.
        "book_link": absolute_url(
            f"{reverse('booking:request')}?{urlencode({'service': appointment.service.slug})}"
        ),
        # Until when the patient may cancel online; after it, they call.
        "cancel_by": local_moment(appointment.patient_cancel_deadline()),
        "can_cancel_online": appointment.patient_can_cancel(),
        "moved_from": local_moment(change.moved_from) if change and change.moved_from else None,
        "admin_link": _admin_link(appointment),
        # The note of a staff member's decline or cancellation is their message to the
        # patient; notes on other changes stay in the admin.
        "note": change.note.strip() if by_staff else "",
        "by_staff": by_staff,
        "was_confirmed": bool(change and change.from_status == Status.CONFIRMED),
    }
    confirmed = appointment.has_been_confirmed or context["was_confirmed"]
    subject = SUBJECTS[kind] if confirmed else REQUEST_SUBJECTS.get(kind, SUBJECTS[kind])
    subject = subject.format(
        reference=appointment.reference,
        first_name=context["first_name"],
        day=context["when"]["day"],
        start=context["when"]["start"],
    )
    if clinic.name:
        subject = f"{subject} · {one_line(clinic.name)}"
    to_address = settings.CLINIC_NOTIFY_EMAIL if kind in STAFF_KINDS else appointment.email
    email = OutgoingEmail(
        appointment=appointment,
        kind=kind,
        to_address=to_address,
        subject=one_line(subject)[:200],
        body_text=tidy_text(render_to_string(f"emails/{kind}.txt", context)),
        body_html=render_to_string(f"emails/{kind}.html", context),
        ics=_calendar_file(kind, appointment, change),
    )
    if not is_valid_address(to_address):
        # Never sent: an address with line breaks or no @ could only fail or be abused.
        email.status = OutgoingEmail.Status.FAILED
        email.last_error = "Not a valid email address; not sent."
    return email


def _calendar_file(kind, appointment, change):
    if kind == Kind.CONFIRMED:
        return appointment_ics(appointment)
    if kind == Kind.RESCHEDULED and appointment.status == Status.CONFIRMED:
        return appointment_ics(appointment)
    if kind == Kind.CANCELLED and change and change.from_status == Status.CONFIRMED:
        # The patient may have added the appointment to a calendar: take it out again.
        return appointment_ics(appointment, cancelled=True)
    return ""


def tidy_text(text):
    """A plain-text body without the blank runs and indents that template tags leave."""
    lines = [line.strip() for line in text.strip().splitlines()]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)) + "\n"


def one_line(text):
    """Text with every run of whitespace, line breaks included, made one space."""
    return " ".join(str(text).split())


def is_valid_address(address):
    try:
        validate_email(address)
    except ValidationError:
        return False
    return "\r" not in address and "\n" not in address


def absolute_url(path):
    """A link for an email: the configured public address, never a request's Host header."""
    return settings.CLINIC_SITE_URL + path


def _admin_link(appointment):
    try:
        path = reverse("admin:booking_appointment_change", args=[appointment.pk])
    except NoReverseMatch:
        path = reverse("admin:index")
    return absolute_url(path)


def local_time(appointment):
    """The appointment's date and time in the clinic's zone, with the zone named."""
    zone = timezone.get_default_timezone()
    start = timezone.localtime(appointment.start, zone)
    end = timezone.localtime(appointment.end, zone)
    place = getattr(zone, "key", str(zone)).rsplit("/", 1)[-1].replace("_", " ")
    return {
        **local_moment(start),
        "time": f"{dateformat.format(start, 'g:i A')} to {dateformat.format(end, 'g:i A')}",
        "zone": f"{place} time, {start.tzname()}",
    }


def local_moment(moment):
    """A moment's date and time of day in the clinic's zone, as the emails write them."""
    moment = timezone.localtime(moment, timezone.get_default_timezone())
    return {
        "date": dateformat.format(moment, "l, F j, Y"),
        "day": dateformat.format(moment, "l"),
        "start": dateformat.format(moment, "g:i A"),
    }


# Sending


def _queue(rows):
    """Save the rows in the caller's transaction; try to send them once it commits."""
    # One INSERT for all of them: the transaction holds the practitioner's lock meanwhile.
    OutgoingEmail.objects.bulk_create(rows)
    ids = [email.pk for email in rows if email.status == OutgoingEmail.Status.PENDING]
    if ids:
        transaction.on_commit(lambda: send_soon(ids))


# Rows committed during the request this thread is serving, sent once its response is out.
_this_request = threading.local()


def send_soon(ids):
    """Send these committed rows after the current response has gone out (now outside one).

    A patient's page should not wait for the mail server. Django sends request_finished
    when the WSGI server has written the whole response and closes it, so the patient
    already has their page when these go out. Should the process die first, the rows are
    still pending in the outbox, and send_pending_emails sends them on its next run
    (cron, every minute): never lost.
    """
    pending = getattr(_this_request, "pending", None)
    if pending is None:
        send_queued(ids)
    else:
        pending.extend(ids)


def request_started(**kwargs):
    _this_request.pending = []
    background_sender.request_began()


def request_finished(**kwargs):
    background_sender.request_ended()
    pending, _this_request.pending = getattr(_this_request, "pending", None), None
    if not pending:
        return
    if settings.CLINIC_EMAILS_IN_BACKGROUND:
        background_sender.submit(pending)
    else:
        send_queued(pending)


class BackgroundSender:
    """One thread per process that sends what requests committed, after their responses.

    Without it a sync worker would talk SMTP before taking its next request: a few
    milliseconds with a local relay, hundreds with a remote one over TLS, for every
    booking. The outbox keeps the guarantees: a row is claimed before it is sent, so it
    goes out at most once, and a row still queued when the process dies is still pending
    for send_pending_emails. A process that exits normally (a worker recycled after
    max_requests, a deploy) first sends what is queued, for up to STOP_TIMEOUT seconds.

    The worker's requests come first: what is queued waits until the worker has served no
    request for IDLE_GAP seconds. In a burst of visitors (a newsletter, many bookings at
    once) every booking is then answered at full speed and its emails follow the burst,
    instead of each request sharing the worker with the SMTP of the one before. A load
    that never pauses does not hold them back: after LONGEST_WAIT they go anyway.
    """

    STOP_TIMEOUT = 20
    IDLE_GAP = 0.05
    LONGEST_WAIT = 10

    def __init__(self):
        self._lock = threading.Lock()
        self._thread = None
        self._queue = None
        self._pid = None
        self._registered_in = None
        # The threads serving a request now, and when one last finished (request_started
        # and request_finished, connected in booking.apps). Threads, not a count: a request
        # that ends without request_finished (an exception raised through a test client)
        # is forgotten when its thread serves its next one, or ends.
        self._serving = set()
        self._last_request_ended = 0.0

    def request_began(self):
        with self._lock:
            self._serving.add(threading.current_thread())

    def request_ended(self):
        with self._lock:
            self._serving.discard(threading.current_thread())
            self._last_request_ended = time.monotonic()

    @property
    def serving(self):
        """How many threads of this process are serving a request now."""
        with self._lock:
            self._serving = {thread for thread in self._serving if thread.is_alive()}
            return len(self._serving)

    def _worker_is_idle(self):
        serving = self.serving
        return not serving and time.monotonic() - self._last_request_ended >= self.IDLE_GAP

    def submit(self, ids):
        with self._lock:
            if self._pid != os.getpid() or not self._thread.is_alive():
                # First use in this process (threads do not survive a fork).
                self._queue = queue.SimpleQueue()
                self._thread = threading.Thread(
                    target=self._run, args=(self._queue,), name="email-sender", daemon=True
                )
                self._thread.start()
                if self._registered_in != os.getpid():
                    atexit.register(self.stop)
                    self._registered_in = os.getpid()
                self._pid = os.getpid()
            self._queue.put(list(ids))

    def stop(self, timeout=STOP_TIMEOUT):
        """Send what is queued, then end the thread (at exit; tests call it too)."""
        with self._lock:
            thread, work = self._thread, self._queue
            self._thread = self._queue = self._pid = None
        if thread is not None and thread.is_alive():
            work.put(None)
            thread.join(timeout)

    def _run(self, work):
        stopping = False
        while not stopping and (ids := work.get()) is not None:
            waiting_since = time.monotonic()
            while True:
                # What other requests queued meanwhile goes with it: a burst of bookings
                # then costs one read of the outbox and one connection to the mail server.
                stopping = self._take_queued(work, ids)
                if (
                    stopping
                    or self._worker_is_idle()
                    or time.monotonic() - waiting_since >= self.LONGEST_WAIT
                ):
                    break
                time.sleep(self.IDLE_GAP)
            try:
                # This thread's own database connection, kept or closed as a request's is.
                close_old_connections()
                send_queued(ids)
                close_old_connections()
            except Exception as error:  # noqa: BLE001 (the thread must outlive any one batch)
                logger.error("Sending emails %s failed (%s).", ids, type(error).__name__)
        # The thread's database connection ends with it (a kept one would outlive it).
        connections.close_all()

    @staticmethod
    def _take_queued(work, ids):
        """Add what else is queued to `ids`; whether the thread was told to stop."""
        while True:
            try:
                more = work.get_nowait()
            except queue.Empty:
                return False
            if more is None:
                return True
            ids += more


background_sender = BackgroundSender()


def send_queued(ids):
    """Try to send these rows now. Never raises: the request that wrote them stands."""
    try:
        send_due(ids=ids)
    except Exception as error:  # noqa: BLE001 (a send must never fail the patient's request)
        # The type only: an error's text can carry an email address.
        logger.error(
            "Sending emails %s failed (%s); send_pending_emails will retry.",
            ids,
            type(error).__name__,
        )


def send_due(*, ids=None, limit=None, max_attempts=MAX_ATTEMPTS):
    """Send the outbox rows that are due, each at most once. Returns counts by outcome."""
    now = timezone.now()
    due = OutgoingEmail.objects.filter(
        status=OutgoingEmail.Status.PENDING, next_attempt_at__lte=now
    ).order_by("next_attempt_at", "pk")
    if ids is not None:
        due = due.filter(pk__in=ids)
    counts = {"sent": 0, "retrying": 0, "failed": 0}
    connection = mail.mailers["default"]
    try:
        # Each row is claimed on its own, so that of two senders only one sends it.
        for email in _in_batches(due, limit):
            if not _claim_row(email, now=now):
                continue  # another sender has it
            outcome, server_unreachable = _deliver(email, connection, max_attempts)
            counts[outcome] += 1
            if server_unreachable:
                # The rest would only wait for the same timeout: leave them for later.
                break
    finally:
        _close_quietly(connection)
    return counts


# Rows read at a time: a burst's emails (hundreds, sent once it is over) or an outage's
# backlog, each with its bodies, would otherwise all be in a worker's memory at once.
READ_BATCH = 50


def _in_batches(due, limit):
    """The due rows, in order, READ_BATCH at a time.

    Each batch is read once the one before has been handled: its rows were claimed and
    sent (or given up, or put off), so they are no longer due and the next read starts
    where it ended. A row seen twice would mean something put it back; then it stops.
    """
    seen = set()
    while limit is None or limit > 0:
        size = READ_BATCH if limit is None else min(limit, READ_BATCH)
        rows = [row for row in due.select_related("appointment")[:size] if row.pk not in seen]
        yield from rows
        if len(rows) < size:
            return
        seen.update(row.pk for row in rows)
        if limit is not None:
            limit -= size


def claim(pk, *, now=None):
    """Mark one due row as being sent, if no other sender got there first.

    The conditional UPDATE is atomic on both databases: of two senders, one changes the
    row and the other finds it no longer pending and moves on.
    """
    email = OutgoingEmail(pk=pk)
    if not _claim_row(email, now=now):
        return None
    return OutgoingEmail.objects.select_related("appointment").get(pk=pk)


def _claim_row(email, *, now=None):
    """claim() for a row already read: whether this sender got it (updated in place)."""
    now = now or timezone.now()
    claimed_at = timezone.now()
    claimed = OutgoingEmail.objects.filter(
        pk=email.pk, status=OutgoingEmail.Status.PENDING, next_attempt_at__lte=now
    ).update(status=OutgoingEmail.Status.SENDING, claimed_at=claimed_at, attempts=F("attempts") + 1)
    if claimed:
        email.status, email.claimed_at = OutgoingEmail.Status.SENDING, claimed_at
        email.attempts += 1
    return bool(claimed)


def _deliver(email, connection, max_attempts):
    """Send one claimed row and record the outcome: (outcome, server unreachable)."""
    outdated = outdated_reason(_with_appointment_now(email))
    if outdated:
        _update(
            email, status=OutgoingEmail.Status.FAILED, last_error=f"{NO_LONGER_HOLDS}{outdated}"
        )
        return "failed", False
    try:
        # Opened here, it stays open for the next rows of this send (send_messages would
        # open and close one connection per message); send_due closes it at the end.
        connection.open()
        if connection.send_messages([as_message(email)]) != 1:
            raise smtplib.SMTPException("The mail server accepted no recipient.")
    except Exception as error:  # noqa: BLE001 (recorded on the row, retried later)
        _close_quietly(connection)
        outcome = _record_failure(email, error, max_attempts)
        logger.warning("Email %s (%s) not sent: %s", email.pk, email.kind, type(error).__name__)
        return outcome, _server_unreachable(error)
    _update(email, status=OutgoingEmail.Status.SENT, sent_at=timezone.now(), last_error="")
    logger.info("Email %s (%s) sent.", email.pk, email.kind)
    return "sent", False


# What a message says about its appointment holds while the appointment is in one of these
# statuses; sent later (a retry, staff sending it again) it would tell something untrue.
HOLDS_WHILE = {
    Kind.REQUEST_RECEIVED: {Status.REQUESTED},
    Kind.STAFF_NEW_REQUEST: {Status.REQUESTED},
    Kind.CONFIRMED: {Status.CONFIRMED},
    Kind.REMINDER: {Status.CONFIRMED},
    Kind.RESCHEDULED: {Status.REQUESTED, Status.CONFIRMED},
    Kind.DECLINED: {Status.DECLINED},
    Kind.CANCELLED: {Status.CANCELLED},
    Kind.STAFF_CANCELLED: {Status.CANCELLED},
}
STATUS_NOW = {
    Status.REQUESTED: "is still a request",
    Status.CONFIRMED: "is confirmed now",
    Status.DECLINED: "was declined",
    Status.CANCELLED: "is cancelled now",
    Status.COMPLETED: "has taken place",
    Status.NO_SHOW: "was missed (no-show)",
}


# What tells a patient of a time still to come: never sent once it has come (a request
# nobody answered in time, closed by staff; a record corrected to when a visit was).
ABOUT_A_COMING_TIME = {Kind.REQUEST_RECEIVED, Kind.CONFIRMED, Kind.RESCHEDULED, Kind.REMINDER}


def outdated_reason(email):
    """Why this message no longer holds for its appointment, or "" while it does.

    Besides the appointment's status, the times of its last change and last move, when
    the row was read with them (_with_appointment_now, resend_refusals): a message written
    before either tells an earlier state (a confirmation for the old time, "still a
    request" after it was confirmed), so it is never sent after it.
    """
    appointment = email.appointment
    if appointment is None:
        return ""
    if appointment.status not in HOLDS_WHILE[email.kind]:
        return f"the appointment {STATUS_NOW[appointment.status]}."
    if email.kind in ABOUT_A_COMING_TIME and appointment.start <= timezone.now():
        return "the appointment's time had already come."
    moved_at = getattr(email, "last_moved_at", None)
    if moved_at and moved_at > email.created_at:
        return "the appointment was moved after it was written."
    changed_at = getattr(email, "last_changed_at", None)
    if changed_at and changed_at > email.created_at:
        return "the appointment changed after it was written."
    return ""


def _last_changes(appointment):
    """Annotations: when the appointment (an OuterRef to it) last changed, and last moved."""
    changes = StatusChange.objects.filter(appointment=appointment).order_by("-changed_at")
    return {
        "last_changed_at": Subquery(changes.values("changed_at")[:1]),
        "last_moved_at": Subquery(changes.filter(is_reschedule=True).values("changed_at")[:1]),
    }


def _with_appointment_now(email):
    """The row, with its appointment read again just before sending.

    A row read a while ago (in a batch of 50, or an outage's backlog sent one by one) may
    carry an appointment that was cancelled or moved since.
    """
    if email.appointment_id is None:
        return email
    current = (
        Appointment.objects.annotate(**_last_changes(OuterRef("pk")))
        .filter(pk=email.appointment_id)
        .first()
    )
    if current is not None:
        email.appointment = current
        email.last_changed_at, email.last_moved_at = current.last_changed_at, current.last_moved_at
    return email


def _record_failure(email, error, max_attempts):
    error_text = f"{type(error).__name__}: {error}"[:1000]
    if email.attempts >= max_attempts or _is_permanent(error):
        _update(email, status=OutgoingEmail.Status.FAILED, last_error=error_text)
        return "failed"
    _update(
        email,
        status=OutgoingEmail.Status.PENDING,
        next_attempt_at=timezone.now() + retry_delay(email.attempts),
        last_error=error_text,
    )
    return "retrying"


def retry_delay(attempts):
    """How long to wait after this many failed attempts: doubling, with a ceiling."""
    return min(FIRST_RETRY_DELAY * 2 ** max(attempts - 1, 0), LONGEST_RETRY_DELAY)


def _is_permanent(error):
    """A 5xx answer about this message (unknown recipient, refused content) will not change."""
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        return all(code >= 500 for code, _ in error.recipients.values())
    if isinstance(error, smtplib.SMTPDataError):
        return error.smtp_code >= 500
    return False


def _server_unreachable(error):
    """Whether the failure was the server's, not this message's."""
    if isinstance(error, smtplib.SMTPRecipientsRefused | smtplib.SMTPDataError):
        return False
    return isinstance(error, OSError)


def _update(email, **fields):
    for name, value in fields.items():
        setattr(email, name, value)
    OutgoingEmail.objects.filter(pk=email.pk).update(**fields)


def _close_quietly(connection):
    # Closing a broken connection may fail too; there is nothing more to do with it.
    with contextlib.suppress(Exception):
        connection.close()


def as_message(email):
    """The outbox row as a Django email message, with its HTML part and calendar file."""
    clinic = Clinic.load()
    reply_to = []
    if email.kind not in STAFF_KINDS and clinic.email and is_valid_address(clinic.email):
        reply_to = [clinic.email]
    message = mail.EmailMultiAlternatives(
        subject=one_line(email.subject),
        body=email.body_text,
        from_email=sender(clinic),
        to=[email.to_address],
        reply_to=reply_to,
        # Asks auto-responders (out-of-office) not to answer.
        headers={"Auto-Submitted": "auto-generated"},
    )
    if email.body_html:
        message.attach_alternative(email.body_html, "text/html")
    if email.ics:
        message.attach("appointment.ics", email.ics, "text/calendar")
    return message


def sender(clinic):
    """DEFAULT_FROM_EMAIL, with the clinic's name shown if the setting gives none."""
    name, address = parseaddr(settings.DEFAULT_FROM_EMAIL)
    if name or not clinic.name:
        return settings.DEFAULT_FROM_EMAIL
    return formataddr((one_line(clinic.name), address))


# Outbox state for staff and operators


def needs_attention():
    """A filter for the rows staff should look at: given up for a reason they can act on
    (a refused or invalid address, retries run out), or interrupted while being sent."""
    no_longer_held = Q(last_error__startswith=NO_LONGER_HOLDS) | Q(last_error__startswith=WITHDRAWN)
    failed = Q(status=OutgoingEmail.Status.FAILED) & ~no_longer_held
    return failed | Q(pk__in=stuck().values("pk"))


def stuck():
    """Rows claimed long ago and still "being sent": interrupted, perhaps sent, perhaps not."""
    return OutgoingEmail.objects.filter(
        status=OutgoingEmail.Status.SENDING, claimed_at__lt=timezone.now() - STUCK_AFTER
    )


def is_stuck(email):
    return (
        email.status == OutgoingEmail.Status.SENDING
        and email.claimed_at is not None
        and email.claimed_at < timezone.now() - STUCK_AFTER
    )


BEING_SENT = "it is being sent right now."


def resend_refusals(queryset):
    """These rows, oldest first, each with why staff may not send it again ("" if they may).

    One query, whatever the number of rows: each row's appointment and the times of its
    last change and last move come with it.
    """
    rows = (
        queryset.select_related("appointment")
        .annotate(**_last_changes(OuterRef("appointment")))
        .order_by("created_at", "pk")
    )
    return [(email, _resend_refusal(email)) for email in rows]


def _resend_refusal(email):
    if email.status == OutgoingEmail.Status.SENDING and not is_stuck(email):
        return BEING_SENT  # it would go twice
    return outdated_reason(email)


def settle_outgrown_stuck():
    """Close the interrupted rows that nobody may send again (they no longer hold), so
    that operators are not told about them on every run. Returns how many."""
    settled = 0
    for email, refusal in resend_refusals(stuck()):
        if refusal and refusal != BEING_SENT:
            settled += close_interrupted(email, f"not sent again: {refusal}")
    return settled


def close_interrupted(email, why):
    """Give up an interrupted row for good; it keeps its history, never goes out again.

    Only while it is still the interruption read: a row that someone sent again meanwhile
    is left alone. Returns whether it was closed.
    """
    fields = {
        "status": OutgoingEmail.Status.CLOSED,
        "last_error": f"Interrupted while being sent; {why}"[:1000],
    }
    closed = OutgoingEmail.objects.filter(
        pk=email.pk, status=OutgoingEmail.Status.SENDING, claimed_at=email.claimed_at
    ).update(**fields)
    if closed:
        for name, value in fields.items():
            setattr(email, name, value)
    return bool(closed)


def resend(email):
    """Queue a message to be sent again, due now; returns the row to send.

    A sent message is copied, so its row still shows when it first went out; a failed or
    interrupted one goes back in the queue with a fresh count of attempts. Send it with
    send_queued, or leave it to send_pending_emails.
    """
    if email.status == OutgoingEmail.Status.SENT:
        return OutgoingEmail.objects.create(
            appointment=email.appointment,
            kind=email.kind,
            to_address=email.to_address,
            subject=email.subject,
            body_text=email.body_text,
            body_html=email.body_html,
            ics=email.ics,
        )
    _update(
        email,
        status=OutgoingEmail.Status.PENDING,
        attempts=0,
        next_attempt_at=timezone.now(),
        claimed_at=None,
    )
    return email


# Reminders


def reminder_due(appointment):
    """When an appointment's reminder is due, and the midnight that began that day.

    At REMINDER_TIME on the day before, on the clinic's wall clock (so a change of clocks
    that night moves nothing), or REMINDER_BEFORE_CANCEL_DEADLINE before cancelling
    online closes, whichever comes first.
    """
    zone = timezone.get_default_timezone()
    day_before = appointment.start.astimezone(zone).date() - timedelta(days=1)
    due = min(
        datetime.combine(day_before, REMINDER_TIME, zone),
        appointment.patient_cancel_deadline() - REMINDER_BEFORE_CANCEL_DEADLINE,
    )
    return due, datetime.combine(due.astimezone(zone).date(), time_of_day(), zone)


def queue_reminders(*, now=None):
    """Queue one reminder for each confirmed appointment whose reminder is due.

    Due at the time reminder_due gives, until the appointment starts (so a run missed then
    still reminds). Not for a patient who was sent its confirmation or its new time on the
    day the reminder is due: that email was the reminder. Returns how many were queued.
    """
    now = now or timezone.now()
    zone = timezone.get_default_timezone()
    # Every appointment whose reminder may be due by now, and some whose is not yet.
    after_tomorrow = datetime.combine(
        now.astimezone(zone).date() + timedelta(days=2), time_of_day(), zone
    )
    latest_start = (
        after_tomorrow + Clinic.load().cancellation_notice + REMINDER_BEFORE_CANCEL_DEADLINE
    )
    last_told = (
        OutgoingEmail.objects.filter(
            appointment=OuterRef("pk"), kind__in=(Kind.CONFIRMED, Kind.RESCHEDULED)
        )
        # One given up on (or withdrawn) never reached the patient.
        .exclude(status=OutgoingEmail.Status.FAILED)
        # When it went out (a retry may deliver it a day after it was written), or, still
        # waiting, when it was written.
        .annotate(told_at=Coalesce("sent_at", "created_at"))
        .order_by("-told_at")
        .values("told_at")[:1]
    )
    candidates = (
        Appointment.objects.filter(
            status=Status.CONFIRMED,
            reminder_sent_at__isnull=True,
            start__gt=now,
            start__lt=latest_start,
        )
        .annotate(last_told=Subquery(last_told))
        .select_related("service", "practitioner")
        .order_by("start")
    )
    queued = 0
    for appointment in candidates:
        due, that_day = reminder_due(appointment)
        if now < due or (appointment.last_told and appointment.last_told >= that_day):
            continue
        with transaction.atomic():
            # Marks the reminder as queued unless another run did so first, or the
            # appointment was moved or cancelled since it was read (its reminder would
            # give the old time, and the new time would never get one).
            claimed = Appointment.objects.filter(
                pk=appointment.pk,
                status=Status.CONFIRMED,
                reminder_sent_at__isnull=True,
                start=appointment.start,
                practitioner_id=appointment.practitioner_id,
            ).update(reminder_sent_at=now)
            if not claimed:
                continue
            appointment.reminder_sent_at = now
            _queue([compose(Kind.REMINDER, appointment)])
        queued += 1
    return queued
