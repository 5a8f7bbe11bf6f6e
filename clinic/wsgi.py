"""WSGI entry point, served by gunicorn (see gunicorn.conf.py)."""

import os

from django.core.wsgi import get_wsgi_application
from django.urls import get_resolver

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "clinic.settings")

application = get_wsgi_application()

# Every view imported now, once, in gunicorn's master (preload_app): the workers it forks
# share that memory, none pays for the imports on its first request, and a worker started
# later (after max_requests) runs the same code as the others even if the files changed.
get_resolver().url_patterns  # noqa: B018 (evaluated for its imports)
