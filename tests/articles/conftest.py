"""Articles in every state a patient might (not) see, and the staff who edit them."""

from datetime import date, timedelta

import pytest
from django.contrib.auth.models import Permission
from django.utils import timezone

from articles.models import Article, Reference, Topic

BODY = """Acupuncture uses very thin needles.

## How it may work

Needling stimulates nerves.

## What the research says

Effects were small to moderate.
"""


@pytest.fixture
def topic(db):
    return Topic.objects.create(name="The evidence", slug="the-evidence")


@pytest.fixture
def other_topic(db):
    return Topic.objects.create(name="Your visit", slug="your-visit")


@pytest.fixture
def make_article(db):
    """Create an article; published a day ago and reviewed unless told otherwise."""
    counter = iter(range(1, 100_000))

    def make(*, topics=(), references=(), **fields):
        number = next(counter)
        values = {
            "title": f"Article number {number}",
            "slug": f"article-{number}",
            "summary": f"The summary of article {number}.",
            "body": BODY,
            "author_name": "Dana Example",
            "reviewer_name": "Sam Example",
            "reviewed_on": date(2026, 1, 5),
            "status": Article.Status.PUBLISHED,
            "publish_at": timezone.now() - timedelta(days=1, minutes=number),
        }
        values.update(fields)
        article = Article.objects.create(**values)
        article.topics.set(topics)
        for position, text in enumerate(references, start=1):
            Reference.objects.create(article=article, position=position, text=text)
        return article

    return make


@pytest.fixture
def published(make_article, topic):
    return make_article(
        title="Acupuncture for back pain: what the research says",
        slug="what-the-research-says",
        summary="What the main guideline and reviews say.",
        topics=[topic],
        references=["Vickers AJ et al. Journal of Pain 2018.", "Mu J et al. Cochrane 2020."],
        concern="chronic_pain",
    )


@pytest.fixture
def draft(make_article, topic):
    return make_article(
        title="Secret draft about moxibustion",
        slug="secret-draft",
        summary="Not ready for patients.",
        status=Article.Status.DRAFT,
        topics=[topic],
    )


@pytest.fixture
def scheduled(make_article, topic):
    return make_article(
        title="Scheduled piece about moxibustion",
        slug="scheduled-piece",
        summary="Appears next week.",
        publish_at=timezone.now() + timedelta(days=7),
        topics=[topic],
    )


@pytest.fixture
def unpublished_draft_with_past_date(make_article, topic):
    """Once published, then taken back to draft: its date has passed, yet it stays hidden."""
    return make_article(
        title="Withdrawn piece about moxibustion",
        slug="withdrawn-piece",
        summary="Taken off the site.",
        status=Article.Status.DRAFT,
        topics=[topic],
    )


@pytest.fixture
def hidden_articles(draft, scheduled, unpublished_draft_with_past_date):
    return [draft, scheduled, unpublished_draft_with_past_date]


def _staff(django_user_model, username, permissions):
    user = django_user_model.objects.create_user(
        username, f"{username}@example.com", "pw-123456789"
    )
    user.is_staff = True
    user.save()
    user.user_permissions.set(permissions)
    return user


@pytest.fixture
def editor(db, django_user_model):
    """A content editor: staff with the articles app's permissions and nothing else."""
    return _staff(
        django_user_model,
        "editor",
        Permission.objects.filter(content_type__app_label="articles"),
    )


@pytest.fixture
def front_desk(db, django_user_model):
    """Staff without any article permission."""
    return _staff(
        django_user_model,
        "frontdesk",
        Permission.objects.filter(content_type__app_label="booking"),
    )


@pytest.fixture
def editor_client(client, editor):
    client.force_login(editor, backend="django.contrib.auth.backends.ModelBackend")
    return client
