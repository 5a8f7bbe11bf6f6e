"""The patient's side of booking: the request form, its open times, and the request's own page."""

import bisect
import contextlib
import hashlib
import logging
import zlib
from datetime import date
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.core.cache import cache
from django.http import Http404, HttpResponse, JsonResponse
from django.middleware.csrf import get_token
from django.shortcuts import redirect, render
from django.template.defaultfilters import pluralize
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.dateformat import format as format_date
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_safe

from articles.models import published_article_slugs
from booking import availability, throttle
from booking.availability import bookable_days
from booking.forms import (
    ARTICLE_SLUG_LENGTH,
    BookingForm,
    issue_form_token,
    slot_day,
    slot_label,
)
from booking.models import (
    Appointment,
    Clinic,
    Concern,
    Practitioner,
    Service,
    TransitionNotAllowed,
)
from clinic import generations, pagecache

logger = logging.getLogger(__name__)

# Day buttons shown at once: two rows on a phone, one on a desktop.
DAYS_PER_PAGE = 8
# The request this browser sent last (a signed cookie): Back reloads the form with a new
# token and the browser fills in what was typed, so the token alone cannot tell that the
# same patient is asking again.
RECENT_REQUEST_COOKIE = "recent_request"
RECENT_REQUEST_SALT = "booking.recent-request"
RECENT_REQUEST_SECONDS = 60 * 60


def _parse_day(value):
    try:
        return date.fromisoformat(value or "")
    except ValueError:
        return None


class TimeChooser:
    """The choice of treatment, practitioner and day, and the open times it leads to.

    Every choice is a link carrying all of them (and the pre-selected concern and the
    article the patient came from), so the page works without JavaScript.
    """

    def __init__(self, services, practitioners, *, service="", practitioner="", day=None, keep):
        by_slug = {s.slug: s for s in services}
        self.services = services
        self.practitioners = practitioners
        self.service = by_slug.get(service) or (services[0] if services else None)
        self.practitioner = next((p for p in practitioners if p.slug == practitioner), None)
        self.keep = {name: value for name, value in keep.items() if value}
        self.days, self.times, self.day = [], [], day
        self.earlier_day = self.later_day = self.first_open_time = None
        if self.service is None:
            return
        first, last = bookable_days()
        times = availability.open_times(self.service, first, last, practitioner=self.practitioner)
        self.open_days = times.days
        # The soonest open time of all: when it can no longer be booked, the page changes.
        self.first_open_time = times.on(self.open_days[0])[0].start if self.open_days else None
        # The day asked for, or the next one with open times (a day kept from another
        # service or practitioner may have none).
        index = bisect.bisect_left(self.open_days, self.day) if self.day else 0
        if index >= len(self.open_days):
            index = 0
        self.day = self.open_days[index] if self.open_days else None
        self.times = times.on(self.day)
        # The page of day buttons that holds the chosen day.
        page = index // DAYS_PER_PAGE
        begin = page * DAYS_PER_PAGE
        self.days = self.open_days[begin : begin + DAYS_PER_PAGE]
        self.earlier_day = self.open_days[begin - DAYS_PER_PAGE] if page else None
        following = self.open_days[begin + DAYS_PER_PAGE : begin + DAYS_PER_PAGE + 1]
        self.later_day = following[0] if following else None

    def url(self, view="booking:request", **changes):
        params = {
            "service": self.service.slug if self.service else "",
            "practitioner": self.practitioner.slug if self.practitioner else "",
            "day": self.day.isoformat() if self.day else "",
            **self.keep,
        }
        for name, value in changes.items():
            params[name] = value.isoformat() if isinstance(value, date) else value
        query = urlencode({name: value for name, value in params.items() if value})
        return f"{reverse(view)}?{query}" if query else reverse(view)

    def service_links(self):
        return [
            {"service": s, "url": self.url(service=s.slug), "current": s == self.service}
            for s in self.services
        ]

    def practitioner_links(self):
        links = [{"name": "Any practitioner", "slug": "", "url": self.url(practitioner="")}]
        links[0]["current"] = self.practitioner is None
        links += [
            {
                "name": p.name,
                "slug": p.slug,
                "url": self.url(practitioner=p.slug),
                "current": p == self.practitioner,
            }
            for p in self.practitioners
        ]
        return links

    def day_links(self):
        return [
            {
                "date": day.isoformat(),
                "weekday": format_date(day, "D"),
                "label": format_date(day, "M j"),
                "url": self.url(day=day),
                "current": day == self.day,
            }
            for day in self.days
        ]

    @property
    def earlier_url(self):
        return self.url(day=self.earlier_day) if self.earlier_day else ""

    @property
    def later_url(self):
        return self.url(day=self.later_day) if self.later_day else ""

    @property
    def day_label(self):
        return format_date(self.day, "l, F j") if self.day else ""

    def as_json(self):
        """Free times only: no names, no appointments, nothing about patients."""
        return {
            "service": self.service.slug if self.service else "",
            "practitioner": self.practitioner.slug if self.practitioner else "",
            "day": self.day.isoformat() if self.day else "",
            "day_label": self.day_label,
            "days": self.day_links(),
            "earlier_url": self.earlier_url,
            "later_url": self.later_url,
            # Where each treatment and practitioner choice leads now, for the page's links.
            "service_label": self.service.name if self.service else "",
            "practitioner_label": self.practitioner.name if self.practitioner else "",
            "choices": {
                "service": {link["service"].slug: link["url"] for link in self.service_links()},
                "practitioner": {link["slug"]: link["url"] for link in self.practitioner_links()},
            },
            "times": [
                {"value": slot.value, "label": slot_label(slot, with_day=False)}
                for slot in self.times
            ],
        }


def _lists():
    """The services and practitioners offered online (cached: they change rarely)."""
    key = f"booking:offered:{generations.current(generations.OFFERED)}"
    lists = cache.get(key)
    if lists is None:
        lists = list(Service.objects.active()), list(Practitioner.objects.active().working())
        cache.set(key, lists, availability.CACHE_TIMEOUT)
    return lists


def _choice(value):
    """A choice button's "name=value" (service, practitioner or day), as a dict."""
    name, _, chosen = value.partition("=")
    return {name: chosen} if name in ("service", "practitioner", "day") else {}


def _rate_limited(request, limit):
    seconds = limit.retry_after()
    minutes = -(-seconds // 60)
    hours = -(-minutes // 60)
    wait = f"{minutes} minute{pluralize(minutes)}" if minutes < 90 else f"{hours} hours"
    response = render(request, "booking/rate_limited.html", {"wait": wait}, status=429)
    response["Retry-After"] = str(seconds)
    return response


def _over_a_limit(request, form):
    """The 429 response when this address or this email has sent too many requests.

    One form counts once, however often it is sent (a double click, a retry): it can
    only ever make one appointment.
    """
    counted = f"booking:counted:{form.submission_key}"
    if not cache.add(counted, True, timeout=86400):
        return None
    by_address, by_email = throttle.booking_limits()
    if not by_address.hit(throttle.client_address(request)):
        logger.warning("Booking requests refused: too many from one address.")
        cache.delete(counted)
        return _rate_limited(request, by_address)
    if not by_email.hit(throttle.mailbox(form.cleaned_data["email"])):
        logger.warning("Booking requests refused: too many for one email address.")
        cache.delete(counted)
        return _rate_limited(request, by_email)
    return None


def _looks_automated(request):
    """Answered like a success, so a bot learns nothing; stored nowhere."""
    by_address, _ = throttle.booking_limits()
    by_address.hit(throttle.client_address(request))
    logger.info("Dropped a booking request that looked automated.")
    return redirect("booking:received")


def remember_request(response, appointment):
    """Let this browser's next request form know which request it sent."""
    response.set_signed_cookie(
        RECENT_REQUEST_COOKIE,
        appointment.submission_key,
        salt=RECENT_REQUEST_SALT,
        max_age=RECENT_REQUEST_SECONDS,
        path=reverse("booking:request"),
        secure=settings.SESSION_COOKIE_SECURE,
        httponly=True,
        samesite="Lax",
    )
    return response


def recent_request(request):
    """The active request this browser sent within the hour, or None."""
    key = request.get_signed_cookie(
        RECENT_REQUEST_COOKIE, None, salt=RECENT_REQUEST_SALT, max_age=RECENT_REQUEST_SECONDS
    )
    if not key:
        return None
    return Appointment.objects.active().filter(submission_key=key).first()


def _answer_sent_form(request, form):
    """The answer to a sent request form, or None to show it again with its errors."""
    if form.honeypot_filled():
        return _looks_automated(request)
    # A double click or a resubmission: the request this form already made.
    existing = form.existing_request()
    if existing:
        return redirect(existing.patient_url)
    # Back, or a second tab: the request this browser has just sent for the same patient.
    earlier = recent_request(request)
    if earlier and form.repeats(earlier):
        messages.info(
            request,
            "You have already sent this request, so we did not send it again: here it is.",
        )
        return redirect(earlier.patient_url)
    if form.is_valid():
        # Too fast only counts for a complete form: a person who sends an empty one
        # in a hurry is shown what is missing, not thanked.
        if form.sent_too_fast():
            return _looks_automated(request)
        refused = _over_a_limit(request, form)
        if refused:
            return refused
        appointment = form.book()
        if appointment:
            logger.info("Consultation request %s received online.", appointment.reference)
            return remember_request(redirect(appointment.patient_url), appointment)
    # Its twin (the other click of a double click) may have booked it meanwhile,
    # which made this one's time look taken.
    existing = form.existing_request()
    return redirect(existing.patient_url) if existing else None


@never_cache
@require_http_methods(["GET", "HEAD", "POST"])
def request_consultation(request):
    services, practitioners = _lists()
    choosing = request.method == "POST" and "choose" in request.POST
    if choosing:
        # A choice made on a form shown again, without JavaScript: the form comes back
        # with what was typed, for the new choice's times; nothing is checked or booked.
        sent = BookingForm(request.POST, services=services, practitioners=practitioners)
        data = {**request.POST.dict(), **_choice(request.POST["choose"])}
        day = _parse_day(data.get("day"))
        keep = {"concern": data.get("concern", ""), "from": data.get("source_article", "")}
    elif request.method == "POST":
        form = BookingForm(request.POST, services=services, practitioners=practitioners)
        answer = _answer_sent_form(request, form)
        if answer:
            return answer
        form.ensure_fresh_token()
        form.mark_first_error()
        data = request.POST
        day = slot_day(data.get("slot")) or _parse_day(data.get("day"))
        keep = {"concern": data.get("concern", ""), "from": data.get("source_article", "")}
    else:
        data = request.GET
        day = _parse_day(data.get("day"))
        concern = data.get("concern", "")
        keep = {
            "concern": concern if concern in Concern.values else "",
            "from": data.get("from", "")[:ARTICLE_SLUG_LENGTH],
        }
    # A blank form's page is stored whole: served from the cache before anything else.
    blank_page_key = _blank_page_key(request, services, practitioners)
    if blank_page_key:
        page = _stored_blank_page(blank_page_key)
        if page is not None:
            return _with_visitor_tokens(request, page)
    chooser = TimeChooser(
        services,
        practitioners,
        service=data.get("service", ""),
        practitioner=data.get("practitioner", ""),
        day=day,
        keep=keep,
    )
    if request.method == "POST" and not choosing:
        form.send_as_shown(chooser.service, chooser.practitioner)
    if request.method != "POST" or choosing:
        if choosing:
            initial = sent.typed()
        else:
            initial = {
                "concern": keep["concern"],
                "source_article": keep["from"],
                **({"form_token": FORM_TOKEN_STAND_IN} if blank_page_key else {}),
            }
        initial["service"] = chooser.service.slug if chooser.service else ""
        initial["practitioner"] = chooser.practitioner.slug if chooser.practitioner else ""
        form = BookingForm(services=services, practitioners=practitioners, initial=initial)
    form.offer(chooser.times, chooser.day_label)
    context = {
        "form": form,
        "chooser": chooser,
        "summary_errors": _summary(form),
        # Shown again: choices must send the form back, not load a blank one.
        "keeps_typed": request.method == "POST",
    }
    if not blank_page_key:
        return render(request, "booking/request_form.html", context)
    page = render_to_string(
        "booking/request_form.html", {**context, "csrf_token": CSRF_STAND_IN}, request
    )
    keep_for = _unchanged_for(chooser)
    if keep_for > 0:
        _store_blank_page(blank_page_key, page, keep_for)
    return _with_visitor_tokens(request, page)


# The blank booking page is the same for every visitor but for two tokens, their CSRF token
# and the form's signed token: it is rendered once with stand-ins for them, which each
# visitor's own replace. Derived from the secret key, so that no article or clinic detail
# can contain one by chance, and the same in every worker sharing the cache.
_STAND_IN_SEED = hashlib.sha256(f"booking-page:{settings.SECRET_KEY}".encode()).hexdigest()
CSRF_STAND_IN = f"csrf{_STAND_IN_SEED[:24]}"
FORM_TOKEN_STAND_IN = f"form{_STAND_IN_SEED[24:48]}"

# What a blank page shows comes from these (the clinic, the topics in the menu, the
# services and practitioners, the open times), and from the clock: see _unchanged_for.
BLANK_PAGE_SOURCES = (
    generations.PAGES,
    generations.CLINIC,
    generations.OFFERED,
    generations.AVAILABILITY,
)
# New times come into the booking horizon as the clock moves: a stored page may miss
# them this long.
BLANK_PAGE_LONGEST = 60


def _blank_page_key(request, services, practitioners):
    """The cache key of this request's blank page, or None when it must be rendered.

    Never for a form sent back, a signed-in visitor or one with a message waiting
    (pagecache's rule), nor for a link naming an article that is not published (anyone
    could make up such links). The key names the generations of what the page shows and
    the choices asked for, each as the page understands it (an unknown practitioner is
    "any", a day outside the booking window the first open day), so that made-up
    addresses share the pages of real ones.
    """
    if request.method == "POST" or not pagecache.may_be_served_from_cache(request):
        return None
    data = request.GET
    source = data.get("from", "")[:ARTICLE_SLUG_LENGTH]
    if source and source not in published_article_slugs():
        return None
    service = data.get("service", "")
    practitioner = data.get("practitioner", "")
    concern = data.get("concern", "")
    day = _parse_day(data.get("day"))
    first, last = bookable_days()
    parts = [
        _STAND_IN_SEED,  # a new secret key means new stand-ins: never serve the old ones
        *(generations.current(name) for name in BLANK_PAGE_SOURCES),
        service if any(s.slug == service for s in services[1:]) else "",
        practitioner if any(p.slug == practitioner for p in practitioners) else "",
        day.isoformat() if day and first <= day <= last else "",
        concern if concern in Concern.values else "",
        source,
    ]
    digest = hashlib.sha256("|".join(parts).encode()).hexdigest()
    # Named for how the page is stored (below), so that a cache shared across a deploy
    # never hands one version's entry to the other.
    return f"booking:blank-page-zlib:{digest}"


# Stored compressed: each worker's local cache keeps up to 100 entries, and a blank page is
# about 20 KB of HTML, mostly the same buttons over and over; zlib keeps a quarter of it
# (measured: 1.1 MB for the 54 pages of a benchmark run) for 0.03 ms to read one back.
def _store_blank_page(key, page, seconds):
    pagecache.cache.set(key, zlib.compress(page.encode()), seconds)


def _stored_blank_page(key):
    stored = pagecache.cache.get(key)
    return None if stored is None else zlib.decompress(stored).decode()


def _unchanged_for(chooser):
    """Seconds this page stays right with no change to the data.

    Until its first open time falls inside the minimum notice (it then leaves the page,
    and the next day may come into the day buttons), and at most BLANK_PAGE_LONGEST.
    """
    seconds = BLANK_PAGE_LONGEST
    if chooser.first_open_time:
        last_moment = chooser.first_open_time - Clinic.load().minimum_notice
        seconds = min(seconds, int((last_moment - timezone.now()).total_seconds()))
    return seconds


def _with_visitor_tokens(request, page):
    page = page.replace(CSRF_STAND_IN, get_token(request), 1)
    return HttpResponse(page.replace(FORM_TOKEN_STAND_IN, issue_form_token(), 1))


def _summary(form):
    """The errors at the top of the form, each a link to its field."""
    if not form.is_bound or form.is_valid():
        return []
    anchors = {"service": "service-choice", "practitioner": "practitioner-choice"}
    errors = [{"anchor": "booking-form", "message": e} for e in form.non_field_errors()]
    for name in form.fields:
        if name in form.errors and name != "website":
            anchor = anchors.get(name) or f"id_{name}" + ("_0" if name in ("slot",) else "")
            errors += [{"anchor": anchor, "message": message} for message in form.errors[name]]
    return errors


@never_cache
@require_safe
def open_times(request):
    """The open times of one day, for the form's script: free times only."""
    services, practitioners = _lists()
    chooser = TimeChooser(
        services,
        practitioners,
        service=request.GET.get("service", ""),
        practitioner=request.GET.get("practitioner", ""),
        day=_parse_day(request.GET.get("day")),
        keep={
            "concern": request.GET.get("concern", ""),
            "from": request.GET.get("from", "")[:ARTICLE_SLUG_LENGTH],
        },
    )
    return JsonResponse(chooser.as_json())


@never_cache
@require_safe
def request_received(request):
    return render(request, "booking/request_received.html")


def _appointment_or_404(token):
    try:
        return Appointment.objects.select_related("service", "practitioner").from_token(token)
    except Appointment.DoesNotExist:
        raise Http404 from None


@never_cache
@require_safe
def request_detail(request, token):
    appointment = _appointment_or_404(token)
    return render(
        request,
        "booking/request_detail.html",
        {
            "appointment": appointment,
            "can_cancel": appointment.patient_can_cancel(),
            "has_started": appointment.has_started(),
            "message_to_patient": appointment.message_to_patient(),
        },
    )


@never_cache
@require_http_methods(["GET", "HEAD", "POST"])
def request_cancel(request, token):
    """Ask first; cancel only on the confirming POST, and only within the notice."""
    appointment = _appointment_or_404(token)
    can_cancel = appointment.patient_can_cancel()
    if request.method == "POST" and request.POST.get("confirm") == "yes" and can_cancel:
        # Already cancelled or declined meanwhile? The page then shows which.
        what = "appointment" if appointment.status == Appointment.Status.CONFIRMED else "request"
        with contextlib.suppress(TransitionNotAllowed):
            appointment.cancel(note="Cancelled by the patient through their link.")
            messages.success(
                request, f"Your {what} is cancelled. We are emailing you to confirm it."
            )
        return redirect(appointment.patient_url)
    return render(
        request,
        "booking/request_cancel.html",
        {"appointment": appointment, "can_cancel": can_cancel},
    )
