"""Articles as Markdown files with YAML front matter, for `import_articles` and `export_articles`.

    ---
    title: What to expect at your first visit
    slug: first-visit
    summary: One or two sentences for lists and search engines.
    topics: [Your visit]
    concern: ''                       # a booking concern value, or empty
    status: published                 # draft or published
    publish_date: 2026-05-04 09:00:00-04:00
    author: Dana Example
    reviewer: Clinical review team
    reviewed_on: 2026-05-01
    references:
    - text: Authors. Title. Journal, year.
      url: https://example.org/
    ---

    The body, in Markdown.

Importing a file creates the article with that slug or updates it to match the file exactly;
exporting writes the same format, so a round trip changes nothing.
"""

import datetime
import re

import yaml
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime
from django.utils.text import slugify

from articles.models import Article, Reference, Topic, normalize_newlines

KEYS = [
    "title",
    "slug",
    "summary",
    "topics",
    "concern",
    "status",
    "publish_date",
    "author",
    "reviewer",
    "reviewed_on",
    "references",
]
REQUIRED_KEYS = {"title", "slug", "summary", "author"}
_CLOSING_LINE = re.compile(r"^---[ \t]*$", re.MULTILINE)


class ArticleFileError(Exception):
    """A file that cannot become an article; the message says why, for the person who wrote it."""


def read(path):
    """The article's fields from a file: a dict ready for `save()`. Raises ArticleFileError."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise ArticleFileError("no such file") from None
    except UnicodeDecodeError:
        raise ArticleFileError("not UTF-8 text") from None
    except OSError as error:
        raise ArticleFileError(f"cannot be read ({error.strerror})") from None
    return parse(text)


def parse(text):
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    if not text.startswith("---\n"):
        raise ArticleFileError("no front matter: the file must start with a line '---'")
    closing = _CLOSING_LINE.search(text, 4)
    if closing is None:
        raise ArticleFileError("the front matter has no closing line '---'")
    try:
        meta = yaml.safe_load(text[4 : closing.start()])
    except yaml.YAMLError as error:
        where = getattr(error, "problem_mark", None)
        # The front matter starts on the file's second line.
        line = f" (line {where.line + 2})" if where else ""
        problem = getattr(error, "problem", None) or "invalid YAML"
        raise ArticleFileError(f"the front matter is not valid YAML{line}: {problem}") from None
    if not isinstance(meta, dict):
        raise ArticleFileError("the front matter must be a list of 'key: value' lines")
    unknown = sorted(str(key) for key in meta if key not in KEYS)
    if unknown:
        raise ArticleFileError(
            f"unknown key{'s' if len(unknown) > 1 else ''} {', '.join(unknown)} "
            f"(known: {', '.join(KEYS)})"
        )
    missing = sorted(key for key in REQUIRED_KEYS if not meta.get(key))
    if missing:
        raise ArticleFileError(f"missing {', '.join(missing)}")

    fields = {
        "title": _text(meta, "title"),
        "slug": _text(meta, "slug"),
        "summary": _text(meta, "summary"),
        "concern": _text(meta, "concern"),
        "status": _text(meta, "status") or Article.Status.DRAFT,
        "publish_at": _moment(meta, "publish_date"),
        "author_name": _text(meta, "author"),
        "reviewer_name": _text(meta, "reviewer"),
        "reviewed_on": _date(meta, "reviewed_on"),
        "body": normalize_newlines(text[closing.end() :]),
    }
    if fields["status"] == Article.Status.PUBLISHED and fields["publish_at"] is None:
        raise ArticleFileError("a published article needs a publish_date")
    return {**fields, "topics": _topics(meta), "references": _references(meta)}


def _text(meta, key):
    value = meta.get(key)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ArticleFileError(f"{key} must be text (put it in quotes)")
    return value.strip()


def _moment(meta, key):
    value = meta.get(key)
    if value in (None, ""):
        return None
    if isinstance(value, str):
        value = parse_datetime(value) or parse_date(value) or value
    if isinstance(value, datetime.datetime):
        return value if timezone.is_aware(value) else timezone.make_aware(value)
    if isinstance(value, datetime.date):
        # A bare date means the start of that day in the clinic's time zone.
        return timezone.make_aware(datetime.datetime.combine(value, datetime.time()))
    raise ArticleFileError(f"{key} must be a date and time like 2026-05-04 09:00:00-04:00")


def _date(meta, key):
    value = meta.get(key)
    if value in (None, ""):
        return None
    if isinstance(value, str):
        value = parse_date(value) or value
    if isinstance(value, datetime.datetime):
        value = value.date()
    if isinstance(value, datetime.date):
        return value
    raise ArticleFileError(f"{key} must be a date like 2026-05-01")


def _topics(meta):
    topics = meta.get("topics") or []
    if not isinstance(topics, list) or not all(isinstance(t, str) and t.strip() for t in topics):
        raise ArticleFileError("topics must be a list of topic names")
    return [topic.strip() for topic in topics]


def _references(meta):
    items = meta.get("references") or []
    if not isinstance(items, list):
        raise ArticleFileError("references must be a list")
    references = []
    for number, item in enumerate(items, start=1):
        if isinstance(item, str):
            item = {"text": item}
        if not isinstance(item, dict) or set(item) - {"text", "url"}:
            raise ArticleFileError(f"reference {number} must have text and, optionally, url")
        text, url = item.get("text"), item.get("url") or ""
        if not isinstance(text, str) or not text.strip() or not isinstance(url, str):
            raise ArticleFileError(f"reference {number} needs its text")
        references.append((text.strip(), url.strip()))
    return references


def topic_named(name):
    """The topic with this name (any case) or address, created if there is none."""
    topic = Topic.objects.filter(name__iexact=name).first()
    if topic is None:
        topic = Topic.objects.filter(slug=slugify(name)).first()
    if topic is None:
        topic = Topic(name=name, slug=slugify(name))
        try:
            topic.full_clean()
        except ValidationError as error:
            raise ArticleFileError(f"topic {name!r}: {_describe(error)}") from None
        topic.save()
    return topic


@transaction.atomic
def save(fields):
    """Create or update the article with this slug to match `fields`.

    Returns "created", "updated" or "unchanged"; an unchanged article is not saved at all,
    so its "updated" date (shown to search engines) stays put.
    """
    fields = dict(fields)
    topic_names = fields.pop("topics")
    references = fields.pop("references")
    article = (
        Article.objects.prefetch_related("topics", "references").filter(slug=fields["slug"]).first()
    )
    created = article is None
    if created:
        article = Article()
        changed = True
    else:
        changed = any(getattr(article, name) != value for name, value in fields.items())
        changed |= sorted(t.name.casefold() for t in article.topics.all()) != sorted(
            name.casefold() for name in topic_names
        )
        changed |= [(r.text, r.url) for r in article.references.all()] != references
    if not changed:
        return "unchanged"

    for name, value in fields.items():
        setattr(article, name, value)
    try:
        article.full_clean()
    except ValidationError as error:
        raise ArticleFileError(_describe(error)) from None
    article.save()
    article.topics.set([topic_named(name) for name in topic_names])
    article.references.all().delete()
    new_references = [
        Reference(article=article, position=position, text=text, url=url)
        for position, (text, url) in enumerate(references, start=1)
    ]
    for reference in new_references:
        try:
            reference.full_clean(exclude=["article"])
        except ValidationError as error:
            raise ArticleFileError(f"reference {reference.position}: {_describe(error)}") from None
    Reference.objects.bulk_create(new_references)
    return "created" if created else "updated"


# The file's names for the fields whose model names differ.
_KEY_FOR_FIELD = {
    "author_name": "author",
    "reviewer_name": "reviewer",
    "publish_at": "publish_date",
}


def _describe(error):
    if hasattr(error, "error_dict"):
        return "; ".join(
            f"{_KEY_FOR_FIELD.get(field, field)}: {' '.join(messages)}"
            if field != "__all__"
            else " ".join(messages)
            for field, messages in error.message_dict.items()
        )
    return " ".join(error.messages)


class _Dumper(yaml.SafeDumper):
    pass


def _represent_text(dumper, value):
    # Several lines read best as a block; one line as plain YAML (quoted only when needed).
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


class _OneLineList(list):
    """Written as [a, b] (topics), where a block list would spread a short list over lines."""


_Dumper.add_representer(str, _represent_text)
_Dumper.add_representer(
    _OneLineList,
    lambda dumper, value: dumper.represent_sequence(
        "tag:yaml.org,2002:seq", value, flow_style=True
    ),
)


def dump(article):
    """The article as a file's text, in the format `read()` accepts."""
    meta = {
        "title": article.title,
        "slug": article.slug,
        "summary": article.summary,
        "topics": _OneLineList(topic.name for topic in article.topics.all()),
        "concern": article.concern,
        "status": article.status,
        "publish_date": timezone.localtime(article.publish_at) if article.publish_at else None,
        "author": article.author_name,
        "reviewer": article.reviewer_name,
        "reviewed_on": article.reviewed_on,
        "references": [
            {"text": ref.text, "url": ref.url} if ref.url else {"text": ref.text}
            for ref in article.references.all()
        ],
    }
    # No line folding: one value, one line, easy to read and to compare.
    front_matter = yaml.dump(
        meta, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=float("inf")
    )
    return f"---\n{front_matter}---\n\n{article.body}\n"
