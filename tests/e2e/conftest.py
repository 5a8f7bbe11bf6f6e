"""Browser tests: Playwright drives Debian's Chromium against a live test server.

They run when /usr/bin/chromium exists and are skipped, with the reason shown, when it
does not (`apt-get install chromium`). Screenshots go to tests/e2e/screenshots/.
"""

import importlib
import os
import shutil
from pathlib import Path

import pytest

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = Path(__file__).resolve().parent / "screenshots"
AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 800}

# Playwright's sync API runs an event loop in this thread; the ORM calls the tests make
# to prepare data and check results are still plain synchronous calls.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


def pytest_collection_modifyitems(config, items):
    here = Path(__file__).resolve().parent
    reason = None
    if not (Path(CHROMIUM).exists() or shutil.which(CHROMIUM)):
        reason = (
            f"browser tests skipped: Chromium not found at {CHROMIUM} (apt-get install chromium)"
        )
    else:
        try:
            import playwright  # noqa: F401
        except ImportError:
            reason = "browser tests skipped: Playwright for Python is not installed"
    for item in items:
        if here in Path(item.fspath).resolve().parents:
            item.add_marker(pytest.mark.e2e)
            # The live server's thread sees committed rows only (tests/conftest.py).
            item.add_marker(pytest.mark.django_db(transaction=True, serialized_rollback=True))
            if reason:
                item.add_marker(pytest.mark.skip(reason=reason))


@pytest.fixture(autouse=True)
def _plain_static_names(settings):
    """The live server serves static files from the source folders, by their plain names."""
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }


@pytest.fixture
def demo(transactional_db):
    """The demo clinic (seed_demo), in a database the live server's thread can see.

    A transactional test before this one may have emptied the tables, and with them the
    staff groups a migration made: make them again, as that migration does.
    """
    from django.apps import apps
    from django.core.management import call_command

    staff_groups = importlib.import_module("booking.migrations.0004_staff_groups")
    staff_groups.create_staff_groups(apps, None)
    call_command("seed_demo", "--no-admin", verbosity=0)


@pytest.fixture
def booked_request(demo):
    """A patient's request for the first open time, booked as the site books it."""
    from booking.availability import bookable_days, open_slots
    from booking.models import Appointment, Concern, Service

    service = Service.objects.active().first()
    slot = open_slots(service, *bookable_days())[0]
    return Appointment(
        service=service,
        practitioner=slot.practitioner,
        start=slot.start,
        first_name="Rosa",
        last_name="Parks",
        email="rosa@example.com",
        phone="+12125550123",
        concern=Concern.SCIATICA,
    ).book()


@pytest.fixture
def quick_hands(monkeypatch):
    """A browser fills the form faster than any person: let it past the 3-second spam check."""
    monkeypatch.setattr("booking.forms.MINIMUM_FILL_SECONDS", 0)


@pytest.fixture(scope="session")
def browser():
    from django.db import connections
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()
        # While Playwright's event loop runs in this thread, Django keeps this thread's
        # database connections apart from the ones it had before (asgiref's Local, per
        # context when a loop is running): close those now, or the last one outlives the
        # loop and keeps PostgreSQL from dropping the test database at the end.
        connections.close_all()


class PageWatch:
    """What a person would trip over on a page: console errors and failed requests."""

    def __init__(self, page):
        self.problems = []
        page.on("console", self._console)
        page.on("pageerror", lambda error: self.problems.append(f"page error: {error}"))
        page.on("requestfailed", self._request_failed)
        page.on("response", self._response)

    def _console(self, message):
        if message.type == "error":
            self.problems.append(f"console error: {message.text}")

    def _request_failed(self, request):
        # Leaving a page before its images have loaded cancels them: the test moved on, the
        # site did nothing wrong. A blocked (CSP) or broken request fails otherwise.
        if request.failure != "net::ERR_ABORTED":
            self.problems.append(f"request failed: {request.url} ({request.failure})")

    def _response(self, response):
        # Error pages a test asks for on purpose are checked by the test itself.
        if response.status >= 500 or (
            response.status == 404 and response.request.resource_type != "document"
        ):
            self.problems.append(f"{response.status}: {response.url}")


def _new_page(browser, viewport, *, javascript=True):
    context = browser.new_context(viewport=viewport, java_script_enabled=javascript)
    page = context.new_page()
    page.set_default_timeout(10_000)
    page.watch = PageWatch(page)
    return context, page


@pytest.fixture
def phone_page(browser, live_server):
    context, page = _new_page(browser, PHONE)
    yield page
    context.close()


@pytest.fixture
def desktop_page(browser, live_server):
    context, page = _new_page(browser, DESKTOP)
    yield page
    context.close()


@pytest.fixture
def no_js_phone_page(browser, live_server):
    context, page = _new_page(browser, PHONE, javascript=False)
    yield page
    context.close()


def screenshot(page, name):
    """Save a full-page screenshot for people to look at (a CI artifact)."""
    SCREENSHOTS.mkdir(exist_ok=True)
    width = page.viewport_size["width"]
    page.screenshot(path=str(SCREENSHOTS / f"{name}-{width}.png"), full_page=True)


def axe_violations(page, *, impacts=("serious", "critical")):
    """Run axe-core in the page; return the violations of the given impacts."""
    if not AXE.exists():
        pytest.fail("axe-core is missing: run `npm ci` (make test does it)")
    # The page's CSP forbids injected scripts, so evaluate the source as a function body.
    page.evaluate(AXE.read_text())
    results = page.evaluate("axe.run(document).then(r => r.violations)")
    return [
        f"{v['impact']}: {v['id']} ({len(v['nodes'])}): {v['help']} "
        f"{[n['target'] for n in v['nodes'][:3]]}"
        for v in results
        if v["impact"] in impacts
    ]


def scroll_width_at(page, width):
    """The page's content width when the window is `width` pixels wide."""
    size = page.viewport_size
    page.set_viewport_size({"width": width, "height": size["height"]})
    content_width = page.evaluate("document.documentElement.scrollWidth")
    page.set_viewport_size(size)
    return content_width


def focus_ring(page):
    """How the focused control shows its focus: its outline, or its box shadow.

    A radio drawn as a button (Bootstrap's .btn-check) is hidden; its label shows the focus.
    """
    return page.evaluate(
        """() => {
          let el = document.activeElement;
          if (!el || el === document.body) return null;
          if (el.matches('.btn-check')) el = el.labels[0];
          const style = getComputedStyle(el);
          const outline = style.outlineStyle !== 'none' && parseFloat(style.outlineWidth) >= 2;
          const ring = `${style.outlineWidth} ${style.outlineStyle} ${style.outlineColor}`;
          return {
            element: el.id || el.name || el.textContent.trim().slice(0, 40),
            outline: outline ? ring : '',
            shadow: style.boxShadow === 'none' ? '' : style.boxShadow,
          };
        }"""
    )


def sign_in_to_admin(page, base_url, username, password):
    page.goto(base_url + "/admin/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()


@pytest.fixture(scope="session", autouse=True)
def _collected_static_files():
    """Not needed here: the live server serves the source files (see _plain_static_names),
    and collecting them, compressed, is most of a browser-only run's time."""
