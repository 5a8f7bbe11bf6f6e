"""Educational articles for patients, written in Markdown by editors."""

import re
from urllib.parse import urlencode

from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.db import connections, models
from django.db.models import Count, Max, Min, Q
from django.db.models.functions import Greatest
from django.urls import NoReverseMatch, Resolver404, resolve, reverse
from django.utils import timezone

from booking.models import Concern
from clinic import generations

# What XML cannot carry, so what would take the feed down: control characters other than
# tab and line ends. One comes with text pasted from a word processor (its manual line
# break is \x0b); in a line of text it reads as a space.
_CONTROL_CHARACTERS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")


def one_line(text):
    """`text` as one line of plain words: control characters and runs of spaces as one space."""
    return " ".join(_CONTROL_CHARACTERS.sub(" ", text).split())


class TopicQuerySet(models.QuerySet):
    def with_published_articles(self):
        """Topics that have at least one published article, with how many and the latest change.

        The latest change is the latest of its articles' `changed_at`.
        """
        return self.filter(articles__in=Article.objects.published()).annotate(
            article_count=Count("articles"),
            last_updated_at=Max(Greatest("articles__updated_at", "articles__publish_at")),
        )


class Topic(models.Model):
    name = models.CharField(max_length=100, unique=True)
    slug = models.SlugField(unique=True)
    description = models.TextField(blank=True, help_text="Shown at the top of the topic's page.")

    objects = TopicQuerySet.as_manager()

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name

    def get_absolute_url(self):
        return reverse("articles:topic", args=[self.slug])

    def clean(self):
        self.name = one_line(self.name)


class ArticleQuerySet(models.QuerySet):
    def published(self):
        """Articles patients may see: published, with a publish date that has come."""
        return self.filter(status=Article.Status.PUBLISHED, publish_at__lte=timezone.now())

    def scheduled(self):
        """Articles set to publish at a date still to come."""
        return self.filter(status=Article.Status.PUBLISHED, publish_at__gt=timezone.now())

    def next_publication(self, after=None):
        """When the next scheduled article appears after `after` (now), or None."""
        after = after or timezone.now()
        return self.filter(status=Article.Status.PUBLISHED, publish_at__gt=after).aggregate(
            first=Min("publish_at")
        )["first"]

    def for_listing(self):
        """What a list of article cards needs, in a fixed number of queries."""
        return self.defer("body", "body_html", "toc_html").prefetch_related("topics")

    def search(self, terms):
        """Articles whose title, summary or body match the words a reader typed.

        PostgreSQL: full-text search (English stemming, so "needles" finds "needle"), best
        matches first. Elsewhere: every word must appear, in any case, in one of the fields.
        """
        terms = " ".join(terms.split())
        if not terms:
            return self
        if connections[self.db].vendor == "postgresql":
            from django.contrib.postgres.search import SearchQuery, SearchRank, SearchVector

            vector = (
                SearchVector("title", weight="A", config="english")
                + SearchVector("summary", weight="B", config="english")
                + SearchVector("body", weight="C", config="english")
            )
            query = SearchQuery(terms, search_type="websearch", config="english")
            return (
                self.alias(search=vector)
                .filter(Q(search=query) | Q(title__icontains=terms))
                .annotate(rank=SearchRank(vector, query))
                .order_by("-rank", "-publish_at", "-pk")
            )
        matches = self
        for word in terms.split():
            matches = matches.filter(
                Q(title__icontains=word) | Q(summary__icontains=word) | Q(body__icontains=word)
            )
        return matches

    def related_to(self, article):
        """Other articles sharing a topic with `article`, those sharing the most first."""
        topic_ids = [topic.pk for topic in article.topics.all()]
        return (
            self.exclude(pk=article.pk)
            .filter(topics__in=topic_ids)
            .annotate(shared_topics=Count("topics"))
            .order_by("-shared_topics", "-publish_at", "-pk")
        )

    def ready_to_publish(self):
        """Articles a medical reviewer has signed off: only these may be published."""
        return self.exclude(reviewer_name="").filter(reviewed_on__lte=timezone.localdate())

    def publish(self):
        """Publish these drafts (reviewed ones only); a draft without a date appears now.

        A draft with a future publish date becomes scheduled. Returns how many changed.
        """
        now = timezone.now()
        drafts = self.filter(status=Article.Status.DRAFT).ready_to_publish()
        dated = drafts.filter(publish_at__isnull=False).update(
            status=Article.Status.PUBLISHED, updated_at=now
        )
        undated = drafts.filter(publish_at__isnull=True).update(
            status=Article.Status.PUBLISHED, publish_at=now, updated_at=now
        )
        # update() sends no signals: cached pages are told here.
        generations.changed(generations.PAGES, using=self.db)
        return dated + undated

    def unpublish(self):
        """Take these articles off the site (back to draft). Returns how many changed."""
        changed = self.filter(status=Article.Status.PUBLISHED).update(
            status=Article.Status.DRAFT, updated_at=timezone.now()
        )
        # update() sends no signals: cached pages are told here.
        generations.changed(generations.PAGES, using=self.db)
        return changed


class Article(models.Model):
    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        PUBLISHED = "published", "Published"

    title = models.CharField(max_length=200)
    slug = models.SlugField(max_length=200, unique=True, help_text="The article's address.")
    summary = models.CharField(
        max_length=300,
        help_text="One or two sentences: shown in lists and to search engines.",
    )
    body = models.TextField(
        help_text="Markdown. Use ## for section headings. Images must be files on this site, "
        "for example a static file: ![What it shows](/static/…). An image from another site is "
        "left out (only its description is shown): it would tell that site who reads the article.",
    )
    body_html = models.TextField(editable=False, blank=True)
    toc_html = models.TextField(editable=False, blank=True)
    reading_minutes = models.PositiveSmallIntegerField(editable=False, default=1)
    topics = models.ManyToManyField(Topic, blank=True, related_name="articles")
    concern = models.CharField(
        max_length=30,
        choices=Concern,
        blank=True,
        help_text="The kind of back pain this article is about: pre-selected when a reader books.",
    )
    author_name = models.CharField(max_length=120)
    reviewer_name = models.CharField(
        "medical reviewer", max_length=120, blank=True, help_text="Who checked the medical content."
    )
    reviewed_on = models.DateField(null=True, blank=True, help_text="When it was last reviewed.")
    status = models.CharField(max_length=10, choices=Status, default=Status.DRAFT)
    publish_at = models.DateTimeField(
        "publish date",
        null=True,
        blank=True,
        help_text="A future date schedules the article; it appears then.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = ArticleQuerySet.as_manager()

    class Meta:
        ordering = ["-publish_at", "-pk"]
        constraints = [
            models.CheckConstraint(
                condition=Q(status="draft") | Q(publish_at__isnull=False),
                name="articles_article_published_has_date",
                violation_error_message="A published article needs a publish date.",
            ),
        ]
        indexes = [
            models.Index(fields=["status", "-publish_at"], name="articles_published_idx"),
        ]

    def __str__(self):
        return self.title

    def save(self, *args, **kwargs):
        self.render()
        update_fields = kwargs.get("update_fields")
        if update_fields is not None and "body" in update_fields:
            kwargs["update_fields"] = {*update_fields, *self.RENDERED_FIELDS}
        super().save(*args, **kwargs)

    def get_absolute_url(self):
        return reverse("articles:detail", args=[self.slug])

    def clean(self):
        # The lines the feed and the lists show: as they read, without what was pasted along.
        for field in ("title", "summary", "author_name", "reviewer_name"):
            setattr(self, field, one_line(getattr(self, field)))
        errors = {}
        if self.slug and not leads_to(self.slug, "articles:detail"):
            errors["slug"] = (
                f"{reverse('articles:detail', args=[self.slug])} is the address of another "
                "page: choose another slug."
            )
        # The clinic's date: a review done this evening in the clinic is already tomorrow in UTC.
        if self.reviewed_on and self.reviewed_on > timezone.localdate():
            errors["reviewed_on"] = (
                "The review date cannot be in the future: give the day the article was reviewed."
            )
        if self.status == self.Status.PUBLISHED:
            if self.publish_at is None:
                # Published without a date means "now".
                self.publish_at = timezone.now()
            if not self.reviewer_name:
                errors["reviewer_name"] = "A published article needs its medical reviewer."
            if not self.reviewed_on:
                errors["reviewed_on"] = "A published article needs the date it was reviewed."
        if errors:
            raise ValidationError(errors)

    @property
    def changed_at(self):
        """When readers last saw it change: its last edit, or the day it appeared if later."""
        if self.publish_at is None:
            return self.updated_at
        return max(self.updated_at, self.publish_at)

    @property
    def is_published(self):
        return (
            self.status == self.Status.PUBLISHED
            and self.publish_at is not None
            and self.publish_at <= timezone.now()
        )

    @property
    def is_scheduled(self):
        return self.status == self.Status.PUBLISHED and not self.is_published

    def status_label(self):
        """Draft, Scheduled or Published: what a patient would (not) see today."""
        if self.is_scheduled:
            return "Scheduled"
        return self.get_status_display()

    def booking_url(self):
        """The request form, with this article's concern pre-selected and the article noted."""
        params = {"concern": self.concern} if self.concern else {}
        params["from"] = self.slug
        return f"{reverse('booking:request')}?{urlencode(params)}"

    # What render() writes from the body.
    RENDERED_FIELDS = ("body_html", "toc_html", "reading_minutes")

    def render(self):
        """Render the Markdown body into the stored HTML; returns whether that changed it.

        Done on saving, once, so that a page view never parses Markdown (and by
        render_articles after an upgrade). Imported here: only the processes that render
        articles need Markdown and nh3 in memory.
        """
        from articles import markdown

        self.body = normalize_newlines(self.body)
        rendered = markdown.render(self.body)
        fresh = {field: getattr(rendered, field) for field in self.RENDERED_FIELDS}
        changed = any(getattr(self, field) != value for field, value in fresh.items())
        for field, value in fresh.items():
            setattr(self, field, value)
        return changed


def published_article_slugs():
    """The slugs of the published articles, cached until an article changes (or 5 minutes).

    For checking a link that names an article (the booking page's `from`). An article
    whose scheduled date came within those 5 minutes is missing from it for that long:
    callers use it to decide what to cache, never what to show.
    """
    key = f"articles:published-slugs:{generations.current(generations.PAGES)}"
    slugs = cache.get(key)
    if slugs is None:
        slugs = frozenset(Article.objects.published().values_list("slug", flat=True))
        cache.set(key, slugs, 300)
    return slugs


def leads_to(slug, url_name):
    """Whether the address `url_name` makes of `slug` opens that page, not another one.

    /articles/feed/ is the feed: an article with the slug "feed" could never be reached.
    """
    try:
        return resolve(reverse(url_name, args=[slug])).view_name == url_name
    except (NoReverseMatch, Resolver404):
        # Not a slug at all: the field's own validation says so.
        return True


def normalize_newlines(text):
    """Unix line endings and no trailing blank lines: browsers send CRLF, files may not."""
    text = (text or "").replace("\r\n", "\n").replace("\r", "\n")
    return text.lstrip("\n").rstrip()


class Reference(models.Model):
    """A citation supporting an article, in the order shown."""

    article = models.ForeignKey(Article, on_delete=models.CASCADE, related_name="references")
    position = models.PositiveSmallIntegerField(default=0)
    text = models.CharField(max_length=500, help_text="Authors, title, journal, year.")
    url = models.URLField("link", max_length=500, blank=True)

    class Meta:
        ordering = ["position", "pk"]

    def __str__(self):
        return self.text
