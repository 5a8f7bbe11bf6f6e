"""The floor: the site's settings and middleware, and one view that returns a constant.

`DJANGO_ROOT_URLCONF=bench.floor_urls` serves it at every path. Every page of the
benchmark is reported as a fraction of what this costs, measured minutes apart.
"""

from django.http import HttpResponse
from django.urls import re_path

FLOOR_BODY = b"floor\n"


def floor(request):
    return HttpResponse(FLOOR_BODY, content_type="text/plain")


urlpatterns = [re_path(r"", floor, name="floor")]
