"""HTTP for the benchmark: one request, forms, a thread-pool load generator, the booking POST.

Plain http.client, a new connection per request, as wrk sees gunicorn's sync workers
(they close every connection). Every request says it came through the TLS-ending proxy
(X-Forwarded-Proto: https), as nginx in front of gunicorn would.
"""

import http.client
import statistics
import threading
import time
from dataclasses import dataclass, field
from html.parser import HTMLParser
from urllib.parse import urlencode

HOST = "127.0.0.1"
PROXY_HEADERS = {"X-Forwarded-Proto": "https"}
TIMEOUT = 30


@dataclass
class Response:
    status: int
    headers: list
    body: bytes
    seconds: float

    def header(self, name):
        name = name.lower()
        for key, value in self.headers:
            if key.lower() == name:
                return value
        return None

    def cookies(self):
        """name -> value of every Set-Cookie."""
        jar = {}
        for key, value in self.headers:
            if key.lower() == "set-cookie":
                pair = value.split(";", 1)[0]
                if "=" in pair:
                    name, _, val = pair.partition("=")
                    jar[name.strip()] = val.strip()
        return jar

    @property
    def text(self):
        return self.body.decode("utf-8", "replace")


def request(port, method, path, *, headers=None, body=None, cookies=None, timeout=TIMEOUT):
    """One request on its own connection; the time counts from sending, as wrk's does."""
    all_headers = {**PROXY_HEADERS, **(headers or {})}
    if cookies:
        all_headers["Cookie"] = "; ".join(f"{name}={value}" for name, value in cookies.items())
    if body is not None and not isinstance(body, bytes):
        body = urlencode(body, doseq=True).encode()
        all_headers.setdefault("Content-Type", "application/x-www-form-urlencoded")
    if method == "POST":
        # Django checks the Origin of secure POSTs against the host.
        all_headers.setdefault("Origin", f"https://{HOST}:{port}")
    connection = http.client.HTTPConnection(HOST, port, timeout=timeout)
    try:
        connection.connect()
        started = time.perf_counter()
        connection.request(method, path, body=body, headers=all_headers)
        response = connection.getresponse()
        data = response.read()
        seconds = time.perf_counter() - started
        return Response(response.status, response.getheaders(), data, seconds)
    finally:
        connection.close()


@dataclass
class Form:
    action: str | None
    method: str
    # name -> list of (value, chosen) for inputs, radios, checkboxes and selects.
    fields: dict = field(default_factory=dict)
    # name -> "hidden", "radio", "checkbox", "select", "textarea", "text", ...
    kinds: dict = field(default_factory=dict)
    # For radios and options: name -> list of {attribute: value} (data-* attributes).
    option_attributes: dict = field(default_factory=dict)

    def add(self, name, kind, value, chosen, attributes=None):
        self.fields.setdefault(name, []).append((value, chosen))
        self.kinds.setdefault(name, kind)
        self.option_attributes.setdefault(name, []).append(attributes or {})

    def value(self, name, default=""):
        values = self.fields.get(name) or []
        chosen = [value for value, is_chosen in values if is_chosen]
        if chosen:
            return chosen[0]
        return values[0][0] if values else default

    def choices(self, name):
        """The non-empty values offered for a radio group or a select."""
        return [value for value, _ in self.fields.get(name, []) if value]


class _FormParser(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.forms = []
        self._form = None
        self._select = None
        self._option = None
        self._textarea = None

    def handle_starttag(self, tag, attrs):
        attrs = {key: (value if value is not None else "") for key, value in attrs}
        if tag == "form":
            self._form = Form(attrs.get("action"), attrs.get("method", "get").lower())
            self.forms.append(self._form)
            return
        if self._form is None:
            return
        name = attrs.get("name")
        if tag == "input" and name:
            kind = attrs.get("type", "text").lower()
            if kind in {"submit", "button", "image", "reset"}:
                return
            chosen = "checked" in attrs if kind in {"radio", "checkbox"} else True
            default = "on" if kind in {"radio", "checkbox"} else ""
            data = {key: value for key, value in attrs.items() if key.startswith("data-")}
            self._form.add(name, kind, attrs.get("value", default), chosen, data)
        elif tag == "select" and name:
            self._select = name
            self._form.kinds.setdefault(name, "select")
            self._form.fields.setdefault(name, [])
        elif tag == "option" and self._select:
            data = {key: value for key, value in attrs.items() if key.startswith("data-")}
            self._option = [attrs.get("value"), "selected" in attrs, "", data]
        elif tag == "textarea" and name:
            self._textarea = [name, ""]

    def handle_data(self, data):
        if self._option is not None:
            self._option[2] += data
        if self._textarea is not None:
            self._textarea[1] += data

    def handle_endtag(self, tag):
        if tag == "form":
            self._form = None
        elif tag == "option" and self._option is not None and self._form is not None:
            value, chosen, text, data = self._option
            self._form.add(
                self._select, "select", text.strip() if value is None else value, chosen, data
            )
            self._option = None
        elif tag == "select":
            self._select = None
        elif tag == "textarea" and self._textarea is not None and self._form is not None:
            name, text = self._textarea
            self._form.add(name, "textarea", text, True)
            self._textarea = None


def parse_forms(html):
    parser = _FormParser()
    parser.feed(html)
    return parser.forms


def percentile(values, fraction):
    """Nearest-rank percentile of a list of numbers (None when empty)."""
    if not values:
        return None
    ordered = sorted(values)
    index = max(0, min(len(ordered) - 1, round(fraction * len(ordered) + 0.5) - 1))
    return ordered[index]


def summarise(latencies, started, finished, errors):
    seconds = max(finished - started, 1e-9)
    return {
        "requests": len(latencies) + sum(errors.values()),
        "ok": len(latencies),
        "seconds": seconds,
        "rps": len(latencies) / seconds,
        "p50_ms": percentile(latencies, 0.50) * 1000 if latencies else None,
        "p99_ms": percentile(latencies, 0.99) * 1000 if latencies else None,
        "mean_ms": statistics.fmean(latencies) * 1000 if latencies else None,
        "errors": dict(errors),
    }


def run_threads(work, *, concurrency, duration=None, items=None):
    """Call work(item) from `concurrency` threads until `duration` passes or `items` run out.

    work returns (ok_seconds or None, error_label or None). Returns the summary.
    """
    lock = threading.Lock()
    latencies, errors = [], {}
    queue = list(items) if items is not None else None
    deadline = None

    def next_item():
        with lock:
            if deadline is not None and time.perf_counter() >= deadline:
                return None, False
            if queue is None:
                return None, True
            if not queue:
                return None, False
            return queue.pop(0), True

    def worker():
        while True:
            item, more = next_item()
            if not more:
                return
            try:
                seconds, error = work(item)
            except (OSError, http.client.HTTPException) as exc:
                seconds, error = None, type(exc).__name__
            with lock:
                if error:
                    errors[error] = errors.get(error, 0) + 1
                else:
                    latencies.append(seconds)

    started = time.perf_counter()
    if duration is not None:
        deadline = started + duration
    threads = [threading.Thread(target=worker, daemon=True) for _ in range(concurrency)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return summarise(latencies, started, time.perf_counter(), errors)


def load_get(port, path, *, duration, concurrency, headers=None):
    """The fallback when wrk is missing: GET `path` from threads for `duration` seconds."""

    def work(_):
        response = request(port, "GET", path, headers=headers)
        if 200 <= response.status < 400:
            return response.seconds, None
        return None, f"HTTP {response.status}"

    return run_threads(work, concurrency=concurrency, duration=duration)
