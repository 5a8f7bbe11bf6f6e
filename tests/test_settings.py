"""Settings come from the environment; production settings are safe by default."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from clinic.settings import mailers_from_url

ROOT = Path(__file__).resolve().parent.parent

PRODUCTION_ENV = {
    "DJANGO_SECRET_KEY": "a-long-random-production-secret-key-0123456789-abcdefghijklmnopqrstu",
    "DJANGO_ALLOWED_HOSTS": "clinic.example.org",
    "CLINIC_SITE_URL": "https://clinic.example.org",
}


def run_python(code, **env_overrides):
    """Run code in a fresh interpreter with only the given clinic variables set."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "CLINIC_"))}
    env.pop("DATABASE_URL", None)
    env.pop("REDIS_URL", None)
    env.pop("EMAIL_URL", None)
    env["DJANGO_SETTINGS_MODULE"] = "clinic.settings"
    env.update(env_overrides)
    return subprocess.run(
        [sys.executable, "-W", "always", "-c", code],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_missing_secret_key_with_debug_off_is_a_clear_startup_error():
    result = run_python(
        "import django; django.setup()",
        DJANGO_ALLOWED_HOSTS="x",
        CLINIC_SITE_URL="https://x",
    )
    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY is not set" in result.stderr


def test_debug_mode_starts_without_a_secret_key():
    result = run_python(
        "import django; django.setup(); from django.conf import settings; print(settings.DEBUG)",
        DJANGO_DEBUG="true",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "True"


def test_debug_is_off_unless_asked_for():
    result = run_python(
        "import django; django.setup(); from django.conf import settings; print(settings.DEBUG)",
        **PRODUCTION_ENV,
    )
    assert result.stdout.strip() == "False", result.stderr


def test_database_url_is_honoured():
    code = (
        "import django; django.setup(); from django.conf import settings; "
        "d = settings.DATABASES['default']; print(d['ENGINE'], d['NAME'], d['HOST'], d['PORT'])"
    )
    result = run_python(
        code, DATABASE_URL="postgres://clinic:secret@db.internal:6543/clinicdb", **PRODUCTION_ENV
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [
        "django.db.backends.postgresql",
        "clinicdb",
        "db.internal",
        "6543",
    ]


def test_sqlite_in_the_project_folder_is_the_default():
    code = (
        "import django; django.setup(); from django.conf import settings; "
        "d = settings.DATABASES['default']; print(d['ENGINE'], d['NAME'])"
    )
    result = run_python(code, **PRODUCTION_ENV)
    engine, name = result.stdout.split()
    assert engine == "django.db.backends.sqlite3"
    assert Path(name) == ROOT / "db.sqlite3"


def test_a_sqlite_connection_writes_ahead_and_keeps_a_small_page_cache(tmp_path):
    code = (
        "import django; django.setup(); from django.db import connection; "
        "cursor = connection.cursor(); "
        "print(*(cursor.execute(f'PRAGMA {name}').fetchone()[0] "
        "for name in ('journal_mode', 'synchronous', 'cache_size')))"
    )
    result = run_python(
        code, DATABASE_URL=f"sqlite:///{tmp_path / 'site.sqlite3'}", **PRODUCTION_ENV
    )
    assert result.returncode == 0, result.stderr
    # Concurrent readers while a booking writes; one fsync per checkpoint, not per
    # commit; a 512 KB cache, as a connection lasts one request (1 = NORMAL).
    assert result.stdout.split() == ["wal", "1", "-512"]


def test_redis_url_selects_the_shared_redis_cache_for_pages_too():
    code = (
        "import django; django.setup(); from django.conf import settings; "
        "[print(c['BACKEND'], c['LOCATION']) for c in settings.CACHES.values()]"
    )
    with_redis = run_python(code, REDIS_URL="redis://127.0.0.1:6379/3", **PRODUCTION_ENV)
    redis = ["django.core.cache.backends.redis.RedisCache", "redis://127.0.0.1:6379/3"]
    assert with_redis.stdout.split() == redis * 2
    without = run_python(code, **PRODUCTION_ENV)
    local_memory = "django.core.cache.backends.locmem.LocMemCache"
    assert without.stdout.split() == [local_memory, "default", local_memory, "pages"]


def test_without_redis_each_worker_keeps_at_most_100_pages():
    """Every worker keeps its own pages then: however many addresses visitors ask for,
    its memory holds no more than 100 entries (about 50 pages, 2 MB)."""
    code = (
        "import django; django.setup(); from clinic.pagecache import cache; "
        "[cache.set(f'page-{n}', 'x' * 20000, 300) for n in range(1000)]; "
        "from django.core.cache import caches; "
        "print(len(caches['pages']._cache), len(caches['default']._cache))"
    )
    result = run_python(code, **PRODUCTION_ENV)
    pages, other = map(int, result.stdout.split())
    assert 0 < pages <= 100
    assert other == 0


def test_time_zone_comes_from_clinic_time_zone():
    code = (
        "import django; django.setup(); from django.conf import settings; "
        "print(settings.TIME_ZONE, settings.USE_TZ)"
    )
    result = run_python(code, CLINIC_TIME_ZONE="Europe/Berlin", **PRODUCTION_ENV)
    assert result.stdout.split() == ["Europe/Berlin", "True"]


def test_check_deploy_is_clean_in_production():
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "CLINIC_"))}
    env.pop("REDIS_URL", None)  # Redis is optional (DESIGN.md): clean without it too
    env.update(PRODUCTION_ENV)
    result = subprocess.run(
        [
            sys.executable,
            "-W",
            "always",
            "manage.py",
            "check",
            "--deploy",
            "--fail-level",
            "WARNING",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout
    assert "Warning" not in result.stderr


def test_no_deprecation_warnings_at_startup():
    result = run_python("import django; django.setup()", DJANGO_DEBUG="true")
    assert result.returncode == 0
    assert "DeprecationWarning" not in result.stderr
    assert "RemovedIn" not in result.stderr


@pytest.mark.parametrize(
    ("url", "host", "port", "tls", "ssl", "username", "password"),
    [
        ("smtp://mail.example.org:2525", "mail.example.org", 2525, False, False, "", ""),
        (
            "smtp+tls://u%40x:p%3Ass@mail.example.org",
            "mail.example.org",
            587,
            True,
            False,
            "u@x",
            "p:ss",
        ),
        ("smtp+ssl://user:pw@mail.example.org", "mail.example.org", 465, False, True, "user", "pw"),
    ],
)
def test_email_url_configures_smtp_mailer(url, host, port, tls, ssl, username, password):
    mailer = mailers_from_url(url, debug=False)["default"]
    assert mailer["BACKEND"] == "django.core.mail.backends.smtp.EmailBackend"
    options = mailer["OPTIONS"]
    assert (options["host"], options["port"]) == (host, port)
    assert (options["use_tls"], options["use_ssl"]) == (tls, ssl)
    assert (options["username"], options["password"]) == (username, password)
    assert options["timeout"] > 0


def test_email_goes_to_the_console_in_debug_without_email_url():
    mailer = mailers_from_url("", debug=True)["default"]
    assert mailer["BACKEND"] == "django.core.mail.backends.console.EmailBackend"


def test_unknown_email_url_scheme_is_refused():
    with pytest.raises(ImproperlyConfigured, match="EMAIL_URL"):
        mailers_from_url("imap://mail.example.org", debug=False)


def test_hsts_tells_browsers_to_use_https_for_a_year(client, clinic):
    response = client.get("/", secure=True)
    assert response["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains; preload"


def test_csp_forbids_inline_script_and_style_and_framing(client, clinic):
    csp = client.get("/", secure=True)["Content-Security-Policy"]
    directives = dict(d.strip().split(" ", 1) for d in csp.split(";") if d.strip())
    assert directives["script-src"] == "'self'"
    assert directives["style-src"] == "'self'"
    assert directives["frame-ancestors"] == "'none'"
    assert directives["object-src"] == "'none'"
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp


def test_pages_cannot_be_framed_and_keep_the_patients_link_to_themselves(client, clinic):
    response = client.get("/", secure=True)
    assert response["X-Frame-Options"] == "DENY"
    assert response["Referrer-Policy"] == "same-origin"


def test_cookies_are_host_only_secure_and_out_of_scripts_reach(client, admin_user):
    form = client.get("/admin/login/", secure=True)
    csrf = form.cookies["__Host-csrftoken"]
    signed_in = client.post(
        "/admin/login/?next=/admin/",
        {"username": "admin", "password": "password", "next": "/admin/"},
        secure=True,
    )
    assert signed_in.status_code == 302
    session = signed_in.cookies["__Host-sessionid"]
    for cookie in (csrf, session):
        assert cookie["secure"] is True
        assert cookie["httponly"] is True
        # __Host- requires these: the browser then refuses the cookie from any other host.
        assert cookie["path"] == "/"
        assert cookie["domain"] == ""
        assert cookie["samesite"] == "Lax"
    assert session["max-age"] == 8 * 60 * 60


def test_postgresql_connections_are_kept_and_checked_before_reuse():
    # Checked: after PostgreSQL restarts, a worker reconnects on its next request by itself.
    code = (
        "import django; django.setup(); from django.conf import settings; "
        "d = settings.DATABASES['default']; print(d['CONN_MAX_AGE'], d['CONN_HEALTH_CHECKS'])"
    )
    result = run_python(
        code, DATABASE_URL="postgres://clinic@db.internal:5432/clinicdb", **PRODUCTION_ENV
    )
    assert result.stdout.split() == ["600", "True"], result.stderr


TWO_BOOKINGS = """
import threading, time, django
django.setup()
from django.db import connection, transaction

steps, first_began = [], threading.Event()

def first():
    with transaction.atomic():  # a booking: check the time is free, then take it
        steps.append("first began")
        first_began.set()
        time.sleep(0.5)
        steps.append("first ends")
    connection.close()

def second():
    first_began.wait(10)
    with transaction.atomic():
        steps.append("second began")
    connection.close()

threads = [threading.Thread(target=first), threading.Thread(target=second)]
for thread in threads: thread.start()
for thread in threads: thread.join()
print(", ".join(steps))
"""


def test_on_sqlite_a_transaction_holds_the_write_lock_from_its_start(tmp_path):
    """Two bookings for one time on SQLite: the second cannot even begin until the first
    ends, so it never reads the time as free while the first is taking it (on PostgreSQL
    the booking locks the practitioner's row: tests/booking/test_concurrency.py)."""
    result = run_python(
        TWO_BOOKINGS, DATABASE_URL=f"sqlite:///{tmp_path / 'site.sqlite3'}", **PRODUCTION_ENV
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "first began, first ends, second began"
