"""Whole public pages for anonymous visitors, served from the cache.

The home page, the article pages and the feed are the same for every visitor who is not
signed in, and are read far more often than they change. A view marked `@public_page` is
rendered once per generation of the content it shows and then answered from the cache
(`PageCacheMiddleware`, near the end of MIDDLEWARE so that the security, CSP and
conditional-GET middleware still run on every answer).

What is never cached or served from the cache:
- requests other than GET and HEAD, and any request carrying a session cookie (staff, who
  may see drafts or previews) or a messages cookie;
- addresses with a query other than `?page=` (searches, made-up parameters), and `?page=`
  itself unless the view says it showed that page, written that way (`shows_page`);
- responses that are not a plain 200, that set a cookie, that used the CSRF token or the
  session, that queued a message, or that say `private` or `no-store`.

Freshness: saving, publishing, unpublishing or deleting an article, and any change to a
topic, a reference, a service, a practitioner, working hours (the home page's structured
data gives them) or the clinic's details, replaces the "pages" generation when
its transaction commits (see clinic/generations.py for how every worker sees it at once).
A scheduled article appears on time because no page is kept past the next scheduled publish
date. Writes that bypass the ORM's signals (raw SQL, a bulk update outside the articles'
QuerySet methods) show up within PAGE_TIMEOUT.
"""

from functools import wraps

from django.conf import settings
from django.core.cache import caches
from django.utils import timezone
from django.utils.cache import (
    get_cache_key,
    learn_cache_key,
    patch_cache_control,
    set_response_etag,
)
from django.utils.connection import ConnectionProxy
from django.utils.http import split_directive_names

from clinic import generations

# Whole pages, and the open times the booking pages show: what can always be built again
# (settings.CACHES explains why it is a cache of its own).
cache = ConnectionProxy(caches, "pages")

# The longest a page is kept: a bound on staleness for writes that bypass the signals.
PAGE_TIMEOUT = 600
# The only query parameter a stored page may have. Searches (?q=) and anything else are
# rendered each time: too many, too rarely repeated, and nobody should be able to fill
# the cache (and push the real pages out of it) by making up addresses.
STORED_PARAMETERS = {"page"}


def public_page(view):
    """Mark a view whose anonymous GET answer is the same for everyone: it may be cached."""

    @wraps(view)
    def wrapper(request, *args, **kwargs):
        request.is_public_page = True
        return view(request, *args, **kwargs)

    return wrapper


def shows_page(request, number):
    """Tell the cache that this answer is page `number` of a list.

    Only `?page=<number>`, written as the list writes its own links, is stored: any other
    value (a page on a page that has none, "02", "last") is answered but not kept, so the
    addresses that can be stored are as many as the real pages.
    """
    request.page_shown = str(number)


def _key_prefix():
    return f"pages.{generations.current(generations.PAGES)}"


def may_be_served_from_cache(request):
    if request.method not in ("GET", "HEAD"):
        return False
    cookies = request.COOKIES
    return settings.SESSION_COOKIE_NAME not in cookies and "messages" not in cookies


def _may_be_stored(request, response):
    if request.method != "GET" or not getattr(request, "is_public_page", False):
        return False
    if not set(request.GET) <= STORED_PARAMETERS:
        return False
    if "page" in request.GET and request.GET.getlist("page") != [
        getattr(request, "page_shown", None)
    ]:
        return False
    if response.status_code != 200 or response.streaming or response.cookies:
        return False
    if {"private", "no-store"} & set(split_directive_names(response.get("Cache-Control", ""))):
        return False
    if request.META.get("CSRF_COOKIE_NEEDS_UPDATE"):
        return False  # the page carries a CSRF token of this visitor's
    session = getattr(request, "session", None)
    if session is not None and session.accessed:
        return False  # it depended on who is asking
    messages = getattr(request, "_messages", None)
    return not (messages is not None and messages.added_new)


def _timeout(started):
    """Seconds a page built at `started` may be kept: never past a scheduled publication."""
    from articles.models import Article

    timeout = PAGE_TIMEOUT
    next_publication = Article.objects.next_publication(after=started)
    if next_publication is not None:
        timeout = min(timeout, (next_publication - started).total_seconds())
    return max(int(timeout), 0)


class PageCacheMiddleware:
    """Answer anonymous GETs of public pages from the cache; store the ones it may."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if not may_be_served_from_cache(request):
            return self.get_response(request)
        prefix = _key_prefix()
        key = get_cache_key(request, prefix, "GET", cache=cache)
        if key is not None:
            response = cache.get(key)
            if response is not None:
                return response
        # Before the view runs: an article whose date comes while it renders counts.
        started = timezone.now()
        response = self.get_response(request)
        if _may_be_stored(request, response):
            timeout = _timeout(started)
            if timeout > 0:
                # Browsers may keep it, but ask each time (a 304 when it is unchanged).
                patch_cache_control(response, no_cache=True)
                # One piece: a response built by write() (the feed) is many small chunks,
                # each of which the server would send on its own.
                response.content = response.content
                set_response_etag(response)
                key = learn_cache_key(request, response, timeout, prefix, cache=cache)
                cache.set(key, response, timeout)
        return response
