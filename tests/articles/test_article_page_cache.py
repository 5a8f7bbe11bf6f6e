"""Public pages come from the cache for anonymous visitors, and are never stale.

Publishing, unpublishing, editing or deleting an article (and changing a topic, a
reference, a service or the clinic's details) shows on the very next page; repeat
visitors get 304 Not Modified; staff and anything personal never go through the cache.
"""

import time
from datetime import timedelta

import pytest
from django.db import connection
from django.http import HttpResponse
from django.middleware.csrf import get_token
from django.test import Client, RequestFactory
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from articles.models import Article, Reference
from booking.models import Clinic, Service
from clinic.pagecache import PageCacheMiddleware, public_page

LIST = reverse("articles:list")
HOME = reverse("home")
FEED = reverse("articles:feed")


@pytest.fixture
def visitor(db):
    """An anonymous visitor, with no session: the cache serves them."""
    return Client()


def cached(visitor, url, django_assert_num_queries):
    """GET `url` twice: the second answer must come from the cache (no query)."""
    visitor.get(url)
    with django_assert_num_queries(0):
        response = visitor.get(url)
    assert response.status_code == 200
    return response.content.decode()


def test_publishing_an_article_shows_it_on_the_cached_list_at_once(
    visitor, clinic, published, draft, editor_client, django_assert_num_queries
):
    assert draft.title not in cached(visitor, LIST, django_assert_num_queries)
    response = editor_client.post(
        reverse("admin:articles_article_changelist"),
        {"action": "publish", "_selected_action": [draft.pk]},
    )
    assert response.status_code == 302
    assert draft.title in visitor.get(LIST).content.decode()
    assert draft.title in visitor.get(HOME).content.decode()
    assert visitor.get(draft.get_absolute_url()).status_code == 200


def test_unpublishing_an_article_takes_it_off_the_cached_pages_at_once(
    visitor, clinic, published, editor_client, django_assert_num_queries
):
    assert published.title in cached(visitor, LIST, django_assert_num_queries)
    assert published.title in cached(visitor, FEED, django_assert_num_queries)
    assert visitor.get(published.get_absolute_url()).status_code == 200
    editor_client.post(
        reverse("admin:articles_article_changelist"),
        {"action": "unpublish", "_selected_action": [published.pk]},
    )
    assert published.title not in visitor.get(LIST).content.decode()
    assert published.title not in visitor.get(FEED).content.decode()
    assert visitor.get(published.get_absolute_url()).status_code == 404


def test_an_edited_article_shows_its_new_text_at_once(
    visitor, clinic, published, django_assert_num_queries
):
    cached(visitor, published.get_absolute_url(), django_assert_num_queries)
    published.title = "Acupuncture and back pain: the evidence in 2026"
    published.save()
    assert published.title in visitor.get(published.get_absolute_url()).content.decode()
    assert published.title in visitor.get(HOME).content.decode()


def test_a_deleted_article_disappears_at_once(
    visitor, clinic, published, django_assert_num_queries
):
    assert published.title in cached(visitor, HOME, django_assert_num_queries)
    url = published.get_absolute_url()
    cached(visitor, url, django_assert_num_queries)
    published.delete()
    assert published.title not in visitor.get(HOME).content.decode()
    assert visitor.get(url).status_code == 404


def test_topics_references_services_and_clinic_details_show_at_once(
    visitor, clinic, published, topic, django_assert_num_queries
):
    cached(visitor, topic.get_absolute_url(), django_assert_num_queries)
    topic.name = "What the trials found"
    topic.save()
    assert "What the trials found" in visitor.get(topic.get_absolute_url()).content.decode()

    cached(visitor, published.get_absolute_url(), django_assert_num_queries)
    Reference.objects.create(article=published, position=9, text="Qaseem A et al. 2017.")
    assert "Qaseem A et al. 2017." in visitor.get(published.get_absolute_url()).content.decode()

    cached(visitor, HOME, django_assert_num_queries)
    Service.objects.create(name="Cupping session", slug="cupping", duration_minutes=30)
    assert "Cupping session" in visitor.get(HOME).content.decode()

    clinic = Clinic.load()
    clinic.phone = "(212) 555-0199"
    clinic.save()
    assert "(212) 555-0199" in visitor.get(HOME).content.decode()
    assert "(212) 555-0199" in visitor.get(LIST).content.decode()


def test_a_topic_added_to_an_article_shows_on_its_page(
    visitor, clinic, published, other_topic, django_assert_num_queries
):
    cached(visitor, other_topic.get_absolute_url(), django_assert_num_queries)
    published.topics.add(other_topic)
    assert published.title in visitor.get(other_topic.get_absolute_url()).content.decode()


def test_a_scheduled_article_appears_on_the_cached_list_when_its_time_comes(
    visitor, clinic, published, make_article
):
    soon = make_article(title="Moxibustion, explained", publish_at=timezone.now() + timedelta(1))
    soon.publish_at = timezone.now() + timedelta(seconds=1.5)
    soon.save()
    assert soon.title not in visitor.get(LIST).content.decode()
    time.sleep(max((soon.publish_at - timezone.now()).total_seconds(), 0) + 0.2)
    assert soon.title in visitor.get(LIST).content.decode()


@pytest.mark.parametrize("url", [HOME, LIST, FEED])
def test_a_repeat_visitor_gets_304_until_the_page_changes(visitor, clinic, published, url):
    first = visitor.get(url)
    etag = first["ETag"]
    assert "no-cache" in first["Cache-Control"]
    again = visitor.get(url, headers={"if-none-match": etag})
    assert again.status_code == 304
    assert again.content == b""
    published.title = "A new title"
    published.save()
    changed = visitor.get(url, headers={"if-none-match": etag})
    assert changed.status_code == 200
    assert "A new title" in changed.content.decode()


def test_article_and_topic_pages_answer_304_to_a_repeat_visit(visitor, clinic, published, topic):
    for url in (published.get_absolute_url(), topic.get_absolute_url()):
        etag = visitor.get(url)["ETag"]
        assert visitor.get(url, headers={"if-none-match": etag}).status_code == 304


def test_staff_are_never_served_a_cached_page(
    visitor, clinic, published, draft, editor_client, django_assert_num_queries
):
    cached(visitor, LIST, django_assert_num_queries)
    Article.objects.filter(pk=draft.pk).update(status=Article.Status.PUBLISHED)  # no signal
    # The visitor's cached list may lag behind a write that bypasses the ORM's signals...
    assert draft.title not in visitor.get(LIST).content.decode()
    # ...but someone signed in always gets the page as it is now.
    assert draft.title in editor_client.get(LIST).content.decode()


def test_a_page_seen_by_someone_signed_in_is_not_stored(visitor, clinic, published, editor_client):
    editor_client.get(LIST)
    with CaptureQueriesContext(connection) as queries:
        visitor.get(LIST)
    assert len(queries) > 0  # rendered for the visitor, not served from the editor's copy


def _middleware_answering(view):
    middleware = PageCacheMiddleware(public_page(view))
    request = RequestFactory().get("/somewhere/")
    request.COOKIES = {}
    return middleware, request


def test_a_page_that_sets_a_cookie_or_carries_a_csrf_token_is_not_stored(db):
    calls = []

    def with_token(request):
        calls.append(1)
        return HttpResponse(f"<input value='{get_token(request)}'>")

    middleware, request = _middleware_answering(with_token)
    middleware(request)
    middleware(RequestFactory().get("/somewhere/"))
    assert len(calls) == 2

    def with_cookie(request):
        calls.append(1)
        response = HttpResponse("hello")
        response.set_cookie("seen", "1")
        return response

    middleware, request = _middleware_answering(with_cookie)
    middleware(request)
    middleware(RequestFactory().get("/somewhere/"))
    assert len(calls) == 4


def test_a_request_with_a_session_cookie_skips_the_cache(db, settings):
    calls = []

    def view(request):
        calls.append(1)
        return HttpResponse("hello")

    middleware = PageCacheMiddleware(public_page(view))
    middleware(RequestFactory().get("/somewhere/"))
    middleware(RequestFactory().get("/somewhere/"))
    assert len(calls) == 1
    signed_in = RequestFactory().get("/somewhere/")
    signed_in.COOKIES[settings.SESSION_COOKIE_NAME] = "abc"
    middleware(signed_in)
    assert len(calls) == 2


def test_searches_and_made_up_addresses_are_not_stored(
    visitor, clinic, published, django_assert_num_queries
):
    for query in ("?q=needles", "?utm_source=newsletter", "?x=1"):
        visitor.get(LIST + query)
        with CaptureQueriesContext(connection) as queries:
            assert visitor.get(LIST + query).status_code == 200
        assert len(queries) > 0
    assert published.title in cached(visitor, LIST + "?page=1", django_assert_num_queries)


def _renders_each_time(visitor, url):
    visitor.get(url)
    with CaptureQueriesContext(connection) as queries:
        assert visitor.get(url).status_code == 200
    return len(queries) > 0


@pytest.mark.parametrize(
    "url",
    [HOME + "?page=2", FEED + "?page=7", LIST + "?page=01", LIST + "?page=+1", LIST + "?page=last"],
)
def test_a_page_number_is_stored_only_as_the_list_itself_writes_it(visitor, clinic, published, url):
    # The home page, the feed and an article have no pages; a list's page has one spelling.
    assert _renders_each_time(visitor, url)


def test_made_up_page_numbers_do_not_push_the_real_pages_out_of_the_cache(
    visitor, clinic, published, make_article, django_assert_num_queries
):
    for number in range(11):
        make_article(title=f"Article {number}", slug=f"article-{number}")
    cached(visitor, LIST, django_assert_num_queries)
    cached(visitor, LIST + "?page=2", django_assert_num_queries)
    # The local-memory cache keeps 100 entries: more made-up addresses than that.
    for number in range(120):
        visitor.get(HOME, {"page": number})
        visitor.get(published.get_absolute_url(), {"page": number})
    for zeros in range(1, 30):
        visitor.get(LIST, {"page": "0" * zeros + "2"})
    with django_assert_num_queries(0):
        assert visitor.get(LIST).status_code == 200
        assert visitor.get(LIST + "?page=2").status_code == 200
