"""Site-wide views: home page, robots.txt, health check and error pages."""

from django.conf import settings
from django.db import DatabaseError, connection
from django.http import HttpResponse, JsonResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

from articles.models import Article
from booking.models import Concern, Service


@require_safe
def home(request):
    return render(
        request,
        "home.html",
        {
            "latest_articles": Article.objects.published().for_listing()[:3],
            "services": Service.objects.active(),
            "concerns": Concern.choices,
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
    # No context processors: whatever broke (the database?) must not break this page.
    from django.template import loader

    return HttpResponse(loader.get_template("500.html").render(), status=500)
