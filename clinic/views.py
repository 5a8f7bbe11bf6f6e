"""Site-wide views: home page, robots.txt, health check and error pages."""

import contextlib
import sys

from django.conf import settings
from django.core.cache import cache
from django.db import DatabaseError, InterfaceError, OperationalError, connection
from django.http import HttpResponse, JsonResponse
from django.shortcuts import render
from django.template import loader
from django.urls import reverse
from django.utils.cache import add_never_cache_headers
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

from articles.models import Article
from booking.availability import weekly_opening_hours
from booking.models import Clinic, Concern, Service

# The database is down, restarting or refusing connections: a passing state, not a bug.
DATABASE_UNAVAILABLE = (OperationalError, InterfaceError)
# Seconds a client is asked to wait; a restart of PostgreSQL takes a few.
RETRY_AFTER_SECONDS = 30


@require_safe
def home(request):
    return render(
        request,
        "home.html",
        {
            "latest_articles": Article.objects.published().for_listing()[:3],
            "services": Service.objects.active(),
            "concerns": Concern.choices,
            "opening_hours": weekly_opening_hours(),
        },
    )


@require_safe
def robots_txt(request):
    # The configured address, not the request's Host header.
    sitemap_url = settings.CLINIC_SITE_URL + reverse("sitemap")
    lines = [
        "User-agent: *",
        "Disallow: /admin/",
        "Disallow: /book/request/",
        f"Sitemap: {sitemap_url}",
    ]
    return HttpResponse("\n".join(lines) + "\n", content_type="text/plain")


@never_cache
@require_safe
def healthz(request):
    """For load balancers: 200 when the database answers, 503 when it does not."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except DatabaseError:
        return JsonResponse({"status": "unavailable", "database": "down"}, status=503)
    return JsonResponse({"status": "ok", "database": "ok"})


def page_not_found(request, exception):
    return render(request, "404.html", status=404)


def server_error(request):
    # Django calls this inside its handler of the uncaught exception, whichever layer
    # (view, middleware, template) raised it: sys.exception() is that exception.
    if isinstance(sys.exception(), DATABASE_UNAVAILABLE):
        return database_unavailable(request)
    # No context processors: whatever broke (the database?) must not break this page.
    return HttpResponse(loader.get_template("500.html").render(), status=500)


def database_unavailable(request):
    """503 with a friendly page and Retry-After: rendered without touching the database."""
    clinic = None
    # The clinic's details if the cache still has them (for its phone number); never a query.
    with contextlib.suppress(Exception):
        clinic = cache.get(Clinic.CACHE_KEY)
    html = loader.get_template("503.html").render({"clinic": clinic})
    response = HttpResponse(html, status=503)
    response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    add_never_cache_headers(response)
    return response
