"""Markdown to safe HTML for articles: rendered once, when an article is saved.

Editors write Markdown; patients see HTML. Whoever wrote an article, the HTML that reaches
the page passes through nh3 (the Rust ammonia sanitiser) against the allow-list below, so a
script, an event handler, a `javascript:` or `data:` link or an embedded frame never does.

Images are shown only from this site: the Content Security Policy would block any other, and
loading one would tell another site who reads a health article. An image from elsewhere is
left out, its description (alt text) kept as text.
"""

import html
import itertools
import math
import re
from dataclasses import dataclass

import markdown
import nh3
from django.utils.html import strip_tags
from markdown.extensions.toc import slugify
from markdown.treeprocessors import Treeprocessor

WORDS_PER_MINUTE = 200

# Heading ids get a prefix so that a heading called "Main" cannot clash with the page's own
# ids (the skip link jumps to #main).
HEADING_ID_PREFIX = "section-"
_HEADING_ID = re.compile(rf"^{HEADING_ID_PREFIX}[a-z0-9][a-z0-9_-]*$")

ALLOWED_TAGS = {
    "a",
    "abbr",
    "b",
    "blockquote",
    "br",
    "code",
    "dd",
    "del",
    "dl",
    "dt",
    "em",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "hr",
    "i",
    "img",
    "ins",
    "kbd",
    "li",
    "mark",
    "ol",
    "p",
    "pre",
    "s",
    "small",
    "strong",
    "sub",
    "sup",
    "table",
    "tbody",
    "td",
    "tfoot",
    "th",
    "thead",
    "tr",
    "ul",
}
ALLOWED_ATTRIBUTES = {
    "a": {"href", "title"},
    "abbr": {"title"},
    "img": {"src", "alt", "title", "width", "height"},
    "ol": {"start"},
    "td": {"align"},
    "th": {"align", "scope"},
    **{f"h{level}": {"id"} for level in range(2, 7)},
}
# Removed with everything inside them, rather than leaving their text behind.
REMOVED_WITH_CONTENT = {
    "script",
    "style",
    "iframe",
    "frame",
    "frameset",
    "object",
    "embed",
    "svg",
    "math",
    "template",
    "noscript",
    "textarea",
    "select",
    "button",
    "form",
    "title",
}
URL_SCHEMES = {"http", "https", "mailto", "tel"}


@dataclass(frozen=True)
class RenderedArticle:
    body_html: str
    toc_html: str
    reading_minutes: int


class _DemoteTitleHeadings(Treeprocessor):
    """The article's title is the page's only h1, so a `#` heading in the body becomes h2."""

    def run(self, root):
        for element in root.iter("h1"):
            element.tag = "h2"


class _ArticleHeadings(markdown.Extension):
    def extendMarkdown(self, md):  # noqa: N802 (Markdown's API)
        # Before the table of contents (priority 5) collects the headings.
        md.treeprocessors.register(_DemoteTitleHeadings(md), "demote_title_headings", 6)


def _heading_ids():
    """Name each heading "section-" and its words, or its number when it has no Latin letter.

    One function per article: it counts the headings. Markdown's table of contents makes
    repeated ids unique (a "_1" suffix), and the contents link to the same id.
    """
    numbers = itertools.count(1)

    def heading_id(value, separator):
        number = next(numbers)
        # The sanitiser keeps only ids whose words start and end with a letter or a digit.
        words = slugify(value, separator).strip("_" + separator)
        return f"{HEADING_ID_PREFIX}{words or number}"

    return heading_id


def _keep_safe_ids(tag, attribute, value):
    if attribute == "id" and not _HEADING_ID.match(value):
        return None
    return value


# In nh3's output every attribute value is double-quoted, with any quote inside escaped.
_IMG_TAG = re.compile(r'<img\b(?:[^>"]|"[^"]*")*>')
_ATTRIBUTE = re.compile(r'([a-z-]+)="([^"]*)"')
# Browsers drop tabs and newlines anywhere in a URL, and controls and spaces before it: a tab
# can hide a second slash.
_URL_IGNORED = re.compile(r"[\t\n\r]")
_URL_LEADING = "".join(chr(code) for code in range(0x21))


def _is_on_this_site(src):
    """A path on this site ("/static/..."), not "//other.example/..." nor a relative path."""
    # A backslash is a slash to a browser: "/\other.example" is another site too.
    url = _URL_IGNORED.sub("", src).lstrip(_URL_LEADING).replace("\\", "/")
    return url.startswith("/") and not url.startswith("//")


def _keep_local_image(match):
    attributes = {name: html.unescape(value) for name, value in _ATTRIBUTE.findall(match[0])}
    if _is_on_this_site(attributes.get("src", "")):
        return match[0]
    return html.escape(attributes.get("alt", ""), quote=False)


def sanitize(text, *, link_rel="noopener noreferrer"):
    """HTML reduced to the allow-list: what may reach a patient's browser."""
    cleaned = nh3.clean(
        text,
        tags=ALLOWED_TAGS,
        clean_content_tags=REMOVED_WITH_CONTENT,
        attributes=ALLOWED_ATTRIBUTES,
        attribute_filter=_keep_safe_ids,
        url_schemes=URL_SCHEMES,
        link_rel=link_rel,
        strip_comments=True,
    )
    return _IMG_TAG.sub(_keep_local_image, cleaned)


def render(text):
    """Render an article's Markdown body to sanitised HTML, its table of contents and reading time.

    The table of contents lists the h2 and h3 headings; it is empty when there are fewer than two
    headings, as a one-entry contents list helps nobody.
    """
    md = markdown.Markdown(
        extensions=["sane_lists", "tables", "fenced_code", "toc", _ArticleHeadings()],
        extension_configs={
            "toc": {"slugify": _heading_ids(), "toc_depth": "2-3"},
            "tables": {"use_align_attribute": True},
        },
        output_format="html",
    )
    body_html = sanitize(md.convert(text or ""))
    headings = sum(1 + len(token["children"]) for token in md.toc_tokens)
    # Links inside the page need no rel; the wrapping <div class="toc"> is dropped.
    toc_html = sanitize(md.toc, link_rel=None).strip() if headings >= 2 else ""
    words = len(strip_tags(body_html).split())
    return RenderedArticle(
        body_html=body_html,
        toc_html=toc_html,
        reading_minutes=max(1, math.ceil(words / WORDS_PER_MINUTE)),
    )
