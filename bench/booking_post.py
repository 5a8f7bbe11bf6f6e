"""The booking POST benchmark: each request posts a form it fetched itself.

A batch of forms is fetched first (each with its own CSRF cookie and token and its own
signed timestamp), the batch waits out the minimum fill time, then threads post them,
each with a different email and a different open slot. A request counts as booked only
when the site answers with its redirect; the harness then counts the stored requests, so
one answered like a success but stored nowhere (the spam path) is reported too.
"""

import html
import re
import time
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlsplit

from bench.client import parse_forms, request, run_threads

BOOK_PATH = "/book/"
# The site refuses forms posted sooner than this after they were served (DESIGN.md).
MINIMUM_FILL_SECONDS = 3.0
FILL_MARGIN_SECONDS = 0.3

# What a patient types; the email is made unique per request.
TYPED = {
    "first_name": "Robin",
    "last_name": "Bench",
    "phone": "+1 212 555 0100",
    "message": "A request made by the benchmark.",
    "website": "",  # the honeypot: people never fill it
}
_ERROR = re.compile(
    r'class="[^"]*\b(?:invalid-feedback|errorlist|alert-danger|alert-warning)\b[^"]*"[^>]*>(.*?)</',
    re.S,
)
_TAG = re.compile(r"<[^>]+>")


class FormUnavailable(Exception):
    """The page has no booking form to post (yet): reported, not a harness failure."""


@dataclass
class PreparedBooking:
    cookies: dict
    data: dict
    fetched_at: float


def booking_form(response):
    forms = [
        form
        for form in parse_forms(response.text)
        if form.method == "post" and "email" in form.fields and "slot" in form.fields
    ]
    if not forms:
        raise FormUnavailable("the page has no form with slot and email fields")
    return forms[0]


def first_error(text):
    for match in _ERROR.finditer(text):
        message = " ".join(html.unescape(_TAG.sub(" ", match.group(1))).split())
        if message:
            return message[:90]
    return "the form came back without a visible error"


def fill(form, *, email, slot):
    """The POST data a patient would send from this form."""
    data = {}
    for name, kind in form.kinds.items():
        if kind == "checkbox":
            # Consent and "new patient" are ticked; other boxes stay as served.
            values = form.fields[name]
            if name in {"consent", "is_new_patient"}:
                data[name] = values[0][0]
            else:
                chosen = [value for value, is_chosen in values if is_chosen]
                if chosen:
                    data[name] = chosen
        elif kind in {"radio", "select"}:
            choices = form.choices(name)
            data[name] = form.value(name) or (choices[0] if choices else "")
        else:
            data[name] = form.value(name)
    data.update({name: value for name, value in TYPED.items() if name in form.kinds})
    if "concern" in form.kinds and "sciatica" in form.choices("concern"):
        data["concern"] = "sciatica"
    data["email"] = email
    data["slot"] = slot
    return data


def offered_slots(form):
    """The slot values the form offers, soonest first, no repeats."""
    return list(dict.fromkeys(form.choices("slot")))


_HREF = re.compile(r'href="([^"]*)"')


def choices_on_page(text):
    """The services, practitioners and days the page links to (its no-JavaScript chooser)."""
    found = {"service": [], "practitioner": [], "day": []}
    for href in _HREF.findall(text):
        query = urlsplit(html.unescape(href)).query
        for name, value in parse_qsl(query):
            if name in found and value not in found[name]:
                found[name].append(value)
    return found


def prepare(port, count, *, concurrency, run_id, path=BOOK_PATH):
    """Fetch `count` forms (as `count` different visitors) and fill each for its own time.

    The forms are fetched for every practitioner and each day the page links to, so that
    the requests spread over many free times and none takes another's: a request that
    loses a race for a time would measure the refusal, not a booking.
    """
    first = request(port, "GET", path)
    if first.status != 200:
        raise FormUnavailable(f"GET {path}: HTTP {first.status}")
    booking_form(first)
    links = choices_on_page(first.text)
    # The shortest visit (listed last by the demo clinic) leaves the most free times.
    service = links["service"][-1] if links["service"] else ""
    first = request(port, "GET", f"{path}?service={service}")
    links = choices_on_page(first.text)
    practitioners = links["practitioner"] or [""]
    days = links["day"] or [""]
    pages = [
        f"{path}?service={service}&practitioner={person}&day={day}"
        for day in days
        for person in practitioners
    ]
    fetched = []

    def fetch(index):
        page = pages[index % len(pages)]
        response = request(port, "GET", page)
        if response.status != 200:
            return None, f"GET {path}: HTTP {response.status}"
        fetched.append((index, response.cookies(), booking_form(response), time.monotonic()))
        return response.seconds, None

    summary = run_threads(fetch, concurrency=concurrency, items=range(count))
    if not fetched:
        raise FormUnavailable("; ".join(summary["errors"]) or "no form could be fetched")
    prepared = []
    for index, cookies, form, fetched_at in sorted(fetched, key=lambda item: item[0]):
        slots = offered_slots(form)
        # Forms of one page offer the same times: the n-th form of a page takes its n-th.
        nth = index // len(pages)
        if nth >= len(slots):
            continue
        data = fill(form, email=f"bench-post-{run_id}-{index}@example.com", slot=slots[nth])
        prepared.append(PreparedBooking(cookies, data, fetched_at))
    if not prepared:
        raise FormUnavailable("the form offers no open time")
    return prepared


def post(port, prepared, *, concurrency, duration, path=BOOK_PATH):
    """POST the prepared forms from `concurrency` threads; errors by kind."""
    if not prepared:
        raise FormUnavailable("no prepared form")
    ready_at = max(item.fetched_at for item in prepared) + MINIMUM_FILL_SECONDS
    time.sleep(max(0.0, ready_at + FILL_MARGIN_SECONDS - time.monotonic()))

    def send(item):
        response = request(port, "POST", path, body=item.data, cookies=item.cookies)
        if response.status in (301, 302, 303):
            if "/request/" not in (response.header("Location") or ""):
                # The answer given to spam: a thank-you page, nothing stored.
                return None, f"answered as spam ({response.header('Location')})"
            return response.seconds, None
        if response.status == 200:
            return None, f"form refused: {first_error(response.text)}"
        return None, f"HTTP {response.status}"

    return run_threads(send, concurrency=concurrency, duration=duration, items=prepared)
