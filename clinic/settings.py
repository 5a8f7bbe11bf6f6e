"""Settings for the clinic website: one file, driven by environment variables.

Every variable is listed with a comment in `.env.example`. Development defaults are
safe: with DJANGO_DEBUG unset the site refuses to start without a real secret key.
"""

import os
from pathlib import Path
from urllib.parse import unquote, urlsplit

import dj_database_url
from django.core.exceptions import ImproperlyConfigured
from django.utils.csp import CSP

BASE_DIR = Path(__file__).resolve().parent.parent


def env_bool(name, default=False):
    value = os.environ.get(name)
    if value is None or value.strip() == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name, default=""):
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


def mailers_from_url(url, *, debug):
    """Turn EMAIL_URL (smtp://user:pass@host:port, smtp+tls://, smtp+ssl://) into MAILERS."""
    if not url:
        backend = "console" if debug else "smtp"
        if backend == "console":
            return {"default": {"BACKEND": "django.core.mail.backends.console.EmailBackend"}}
        url = "smtp://localhost:25"
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    simple = {
        "console": "django.core.mail.backends.console.EmailBackend",
        "locmem": "django.core.mail.backends.locmem.EmailBackend",
        "dummy": "django.core.mail.backends.dummy.EmailBackend",
    }
    if scheme in simple:
        return {"default": {"BACKEND": simple[scheme]}}
    if scheme not in {"smtp", "smtp+tls", "smtp+ssl"}:
        raise ImproperlyConfigured(
            f"EMAIL_URL scheme {scheme!r} is not supported: use smtp://, smtp+tls:// or smtp+ssl://."
        )
    options = {
        "host": parts.hostname or "localhost",
        "port": parts.port or {"smtp": 25, "smtp+tls": 587, "smtp+ssl": 465}[scheme],
        "username": unquote(parts.username) if parts.username else "",
        "password": unquote(parts.password) if parts.password else "",
        "use_tls": scheme == "smtp+tls",
        "use_ssl": scheme == "smtp+ssl",
        # A hung mail server must never hold a worker: the outbox retries later.
        "timeout": 10,
    }
    return {
        "default": {"BACKEND": "django.core.mail.backends.smtp.EmailBackend", "OPTIONS": options}
    }


DEBUG = env_bool("DJANGO_DEBUG")

SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            "DJANGO_SECRET_KEY is not set. Set it to a long random value "
            "(python -c 'import secrets; print(secrets.token_urlsafe(50))'), "
            "or set DJANGO_DEBUG=true for local development."
        )
    SECRET_KEY = "django-insecure-development-only-key-never-use-in-production"  # noqa: S105

ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]" if DEBUG else "")
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    # Django
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.sitemaps",
    # Third-party
    "axes",
    "bootstrap",
    "crispy_forms",
    "crispy_bootstrap5",
    # Ours
    "articles",
    "booking",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # ETags, and 304 answers to repeat visitors (before anything that changes the body).
    "django.middleware.http.ConditionalGetMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    # Public pages for anonymous visitors from the cache (clinic/pagecache.py): after the
    # middleware above, so that its headers are added to every answer.
    "clinic.pagecache.PageCacheMiddleware",
    # Last, so that it sees the outcome of the login view.
    "axes.middleware.AxesMiddleware",
]

# The benchmark points this at bench.floor_urls to measure the framework's own floor.
ROOT_URLCONF = os.environ.get("DJANGO_ROOT_URLCONF") or "clinic.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "django.template.context_processors.csp",
                "booking.context_processors.clinic",
            ],
        },
    },
]

WSGI_APPLICATION = "clinic.wsgi.application"

# Database: SQLite in the project folder by default, PostgreSQL through DATABASE_URL.
DATABASES = {
    "default": dj_database_url.config(
        default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}",
        conn_max_age=600,
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"]["OPTIONS"] = {
        # IMMEDIATE takes the write lock when a transaction starts, so two bookings
        # for one slot are serialised instead of failing with "database is locked".
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
        # A connection lasts one request (CONN_MAX_AGE 0), and so does its page cache:
        # 512 KB rather than SQLite's 2 MB keeps about 1 MB less in every worker, and
        # measured no slower (the admin list over 100,000 appointments, availability).
        "init_command": (
            "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA cache_size=-512;"
        ),
    }

if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # Only with PostgreSQL: the app imports psycopg and its libraries, about 10 MB in
    # every worker of a site that runs on SQLite.
    INSTALLED_APPS.insert(
        INSTALLED_APPS.index("django.contrib.sitemaps") + 1, "django.contrib.postgres"
    )

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Cache: Redis shared by every app server when REDIS_URL is set (rate limits need it).
# Two of them: "default" for small things that must stay (the rate limits' counters), and
# "pages" for whole public pages and the open times they show, which can always be built
# again. Apart, however many page addresses a visitor asks for, no rate limit's counter
# is pushed out to make room; and in the local-memory cache, which each worker keeps for
# itself, pages take a bounded share of its memory: 100 entries, about 50 pages or 2 MB
# (a booking page with its open times is about 35 KB).
REDIS_URL = os.environ.get("REDIS_URL", "")
if REDIS_URL:
    REDIS = {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}
    CACHES = {
        "default": {**REDIS, "KEY_PREFIX": "clinic"},
        "pages": {**REDIS, "KEY_PREFIX": "clinic-pages"},
    }
else:
    LOCAL_MEMORY = "django.core.cache.backends.locmem.LocMemCache"
    CACHES = {
        "default": {"BACKEND": LOCAL_MEMORY, "LOCATION": "default"},
        "pages": {"BACKEND": LOCAL_MEMORY, "LOCATION": "pages", "OPTIONS": {"MAX_ENTRIES": 100}},
    }

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 12},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = os.environ.get("CLINIC_TIME_ZONE", "America/New_York")
USE_I18N = True
USE_TZ = True
# Dates and times as the site writes them everywhere, the admin's fields included.
FORMAT_MODULE_PATH = ["clinic.formats"]

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}

# Email: Django 6.1's MAILERS, configured from EMAIL_URL.
MAILERS = mailers_from_url(os.environ.get("EMAIL_URL", ""), debug=DEBUG)
DEFAULT_FROM_EMAIL = os.environ.get("DJANGO_DEFAULT_FROM_EMAIL", "clinic@localhost")
SERVER_EMAIL = DEFAULT_FROM_EMAIL

# Security. Behind a TLS-ending proxy (nginx) that sets X-Forwarded-Proto.
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env_bool("DJANGO_SECURE_SSL_REDIRECT", default=not DEBUG)
SECURE_HSTS_SECONDS = 0 if DEBUG else 31_536_000
SECURE_HSTS_INCLUDE_SUBDOMAINS = not DEBUG
SECURE_HSTS_PRELOAD = not DEBUG
SECURE_CONTENT_TYPE_NOSNIFF = True
# The patient's link carries a token: never send it to another site.
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_SECURE = not DEBUG
CSRF_COOKIE_SECURE = not DEBUG
SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = True
# __Host- cookies are bound to this host and to HTTPS; plain names in development.
SESSION_COOKIE_NAME = "sessionid" if DEBUG else "__Host-sessionid"
CSRF_COOKIE_NAME = "csrftoken" if DEBUG else "__Host-csrftoken"
SESSION_COOKIE_AGE = 8 * 60 * 60
SECURE_CSP = {
    "default-src": [CSP.SELF],
    "script-src": [CSP.SELF],
    "style-src": [CSP.SELF],
    # Bootstrap draws form icons with data: SVG images.
    "img-src": [CSP.SELF, "data:"],
    "font-src": [CSP.SELF],
    "connect-src": [CSP.SELF],
    "object-src": [CSP.NONE],
    "base-uri": [CSP.SELF],
    "form-action": [CSP.SELF],
    "frame-ancestors": [CSP.NONE],
}

# Admin login throttling: 5 failures lock that user name from that address for an
# hour, so an attacker elsewhere cannot lock staff out.
AXES_FAILURE_LIMIT = 5
AXES_COOLOFF_TIME = 1
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "admin/lockout.html"
# How many proxies (nginx) stand in front of gunicorn and append to X-Forwarded-For;
# 0 trusts only the socket's address, so the header cannot be spoofed.
PROXY_COUNT = int(os.environ.get("DJANGO_PROXY_COUNT", "0"))
# The same client address for the sign-in lockout as for the booking limits.
AXES_CLIENT_IP_CALLABLE = "booking.throttle.client_address"
# Masked in axes' log lines (and the attempts' stored form data): a user name may be a
# person's name or email address. The attempt records in the admin keep it, for staff.
AXES_SENSITIVE_PARAMETERS = ["password", "username"]

CRISPY_ALLOWED_TEMPLATE_PACKS = "bootstrap5"
CRISPY_TEMPLATE_PACK = "bootstrap5"


def without_template_context(record):
    """Keep a template's failed variable lookup, but not the context it prints (DEBUG)."""
    record.exc_info = record.exc_text = None
    return True


# Never log personal data: only Django's own warnings and our operational messages.
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "filters": {
        # A failed lookup's exception lists the whole context: a patient's form and details.
        "without_template_context": {
            "()": "django.utils.log.CallbackFilter",
            "callback": without_template_context,
        },
        # A patient's link is the key to their request (clinic/logs.py).
        "without_patient_links": {"()": "clinic.logs.WithoutPatientLinks"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "plain",
            "filters": ["without_patient_links"],
        }
    },
    "root": {"handlers": ["console"], "level": "WARNING"},
    "loggers": {
        "django": {"handlers": ["console"], "level": "WARNING", "propagate": False},
        "django.template": {"filters": ["without_template_context"]},
        "articles": {"handlers": ["console"], "level": "INFO", "propagate": False},
        "booking": {"handlers": ["console"], "level": "INFO", "propagate": False},
    },
}

# The clinic's own settings.
CLINIC_SITE_URL = os.environ.get(
    "CLINIC_SITE_URL", "http://localhost:8000" if DEBUG else ""
).rstrip("/")
if not CLINIC_SITE_URL:
    raise ImproperlyConfigured(
        "CLINIC_SITE_URL is not set. Set it to the public address, for example "
        "https://clinic.example.org: email links use it, never the request's Host header."
    )
CLINIC_NOTIFY_EMAIL = os.environ.get("CLINIC_NOTIFY_EMAIL", "front-desk@localhost")
# A request's emails are sent by a thread of its worker once the response is out, so a
# slow mail server never holds a worker. The tests send them in the request's own thread.
CLINIC_EMAILS_IN_BACKGROUND = env_bool("CLINIC_EMAILS_IN_BACKGROUND", default=True)
CLINIC_BOOKING_RATE = os.environ.get("CLINIC_BOOKING_RATE", "5/h")
CLINIC_BOOKING_EMAIL_RATE = os.environ.get("CLINIC_BOOKING_EMAIL_RATE", "3/d")
