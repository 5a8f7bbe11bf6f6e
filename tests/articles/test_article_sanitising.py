"""Whatever an editor types, the article page carries no script: a table of hostile Markdown."""

import re
from html.parser import HTMLParser

import pytest

from articles.markdown import render

HOSTILE = {
    "script tag": "<script>alert('x')</script>",
    "script inside a paragraph": "Hello <script>alert('x')</script> there",
    "uppercase script": "<SCRIPT SRC=https://evil.example/x.js></SCRIPT>",
    "event handler on an image": '<img src="x.png" onerror="alert(1)">',
    "event handler on a link": '<a href="/ok" onclick="alert(1)">click</a>',
    "event handler on a paragraph": '<p onmouseover="alert(1)">hover</p>',
    "event handler without quotes": "<b onclick=alert(1)>bold</b>",
    "javascript: link in Markdown": "[click](javascript:alert(1))",
    "javascript: link in HTML": '<a href="javascript:alert(1)">click</a>',
    "javascript: with entities": '<a href="jav&#x09;ascript:alert(1)">click</a>',
    "javascript: in upper case": "[click](JaVaScRiPt:alert(1))",
    "javascript: reference link": "[click][x]\n\n[x]: javascript:alert(1)",
    "data: link": "[click](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
    "data: image": "![pic](data:image/svg+xml;base64,PHN2ZyBvbmxvYWQ9YWxlcnQoMSk+)",
    "vbscript: link": '<a href="vbscript:msgbox(1)">click</a>',
    "iframe": '<iframe src="https://evil.example"></iframe>',
    "iframe with srcdoc": '<iframe srcdoc="<script>alert(1)</script>"></iframe>',
    "object and embed": '<object data="x.swf"></object><embed src="x.swf">',
    "style element": "<style>body { display: none }</style>",
    "style attribute": '<p style="background:url(javascript:alert(1))">styled</p>',
    "svg with onload": '<svg onload="alert(1)"><circle r="1"/></svg>',
    "svg with script": "<svg><script>alert(1)</script></svg>",
    "svg animate href": '<svg><a><animate attributeName="href" values="javascript:alert(1)"/>'
    "<text>x</text></a></svg>",
    "math with link": '<math><mi xlink:href="javascript:alert(1)">x</mi></math>',
    "math mXSS": "<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>",
    "noscript mXSS": '<noscript><p title="</noscript><img src=x onerror=alert(1)>">',
    "template": "<template><script>alert(1)</script></template>",
    "form and button": '<form action="https://evil.example"><button>Go</button></form>',
    "meta refresh": '<meta http-equiv="refresh" content="0;url=https://evil.example">',
    "base tag": '<base href="https://evil.example/">',
    "link with target": '<a href="https://example.org" target="_blank">new tab</a>',
    "Markdown attribute trick": "[x](https://example.org){: onclick=alert(1) }",
    "html comment": "<!-- <script>alert(1)</script> -->",
    "raw HTML block": '<div onclick="alert(1)"><script>alert(1)</script>text</div>',
    "heading id that clobbers the page": '<h2 id="main">Main</h2>',
}

ALLOWED_SCHEMES = {"http", "https", "mailto", "tel"}
FORBIDDEN_TAGS = {
    "script",
    "iframe",
    "object",
    "embed",
    "style",
    "svg",
    "math",
    "form",
    "button",
    "input",
    "meta",
    "base",
    "link",
    "template",
    "noscript",
    "h1",
}


class Inspector(HTMLParser):
    """What a browser would build from the HTML: its elements, attributes and comments."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.problems = []

    def handle_starttag(self, tag, attrs):
        if tag in FORBIDDEN_TAGS:
            self.problems.append(f"<{tag}>")
        for name, value in attrs:
            value = value or ""
            if name.startswith("on") or name in {"style", "target", "srcdoc", "formaction"}:
                self.problems.append(f"{name}= on <{tag}>")
            if name in {"href", "src", "action", "xlink:href"}:
                # Browsers ignore tabs, newlines and case in a scheme.
                squashed = re.sub(r"[\x00-\x20]", "", value).lower()
                scheme = (
                    squashed.split(":", 1)[0] if re.match(r"^[a-z][a-z0-9+.-]*:", squashed) else ""
                )
                if scheme and scheme not in ALLOWED_SCHEMES:
                    self.problems.append(f"{scheme}: URL on <{tag}>")
            if name == "id" and not value.startswith("section-"):
                self.problems.append(f"id={value!r} could clash with the page's own ids")

    handle_startendtag = handle_starttag

    def handle_comment(self, data):
        self.problems.append("comment")


def problems_in(html):
    inspector = Inspector()
    inspector.feed(html)
    inspector.close()
    return inspector.problems


@pytest.mark.parametrize("markdown", HOSTILE.values(), ids=HOSTILE.keys())
def test_hostile_markdown_comes_out_harmless(markdown):
    html = render(markdown).body_html
    assert problems_in(html) == [], html


@pytest.mark.parametrize("markdown", HOSTILE.values(), ids=HOSTILE.keys())
def test_hostile_headings_leave_a_harmless_table_of_contents(markdown):
    toc = render(f"## {markdown}\n\ntext\n\n## Second\n\nmore").toc_html
    assert problems_in(toc) == [], toc


def test_ordinary_formatting_survives_sanitising():
    html = render(
        "Some **bold**, *italic* and `code`.\n\n"
        "- one\n- two\n\n"
        "> a quotation\n\n"
        "| Week | Sessions |\n|:-----|---------:|\n| 1 | 2 |\n\n"
        "[NCCIH](https://www.nccih.nih.gov/) and [our visit page](/articles/your-first-visit/)"
    ).body_html
    assert "<strong>bold</strong>" in html
    assert "<em>italic</em>" in html
    assert "<code>code</code>" in html
    assert "<li>one</li>" in html
    assert "<blockquote>" in html
    assert '<td align="right">2</td>' in html
    assert '<a href="https://www.nccih.nih.gov/" rel="noopener noreferrer">NCCIH</a>' in html
    assert 'href="/articles/your-first-visit/"' in html


def test_text_of_a_removed_tag_is_kept_but_escaped():
    html = render("Use <blink>care</blink> & patience < 5 minutes").body_html
    assert "care" in html
    assert "&amp; patience &lt; 5 minutes" in html


def test_article_saved_with_a_script_stores_only_safe_html(make_article, client):
    article = make_article(body="Hello\n\n<script>alert('x')</script>\n\n[x](javascript:alert(1))")
    assert "<script" not in article.body_html
    html = client.get(article.get_absolute_url()).content.decode()
    assert "alert(" not in html


@pytest.mark.parametrize(
    "html",
    [
        "<script>x</script>",
        '<a href="java\tscript:alert(1)">x</a>',
        '<img src="data:image/png;base64,xx">',
        '<p onclick="x">x</p>',
        '<a href="/" target="_blank">x</a>',
        '<h2 id="main">x</h2>',
        "<h1>x</h1>",
    ],
)
def test_the_inspector_itself_spots_unsanitised_html(html):
    # Without this, a broken inspector would let every row of the table pass.
    assert problems_in(html) != []


# Images: the Content Security Policy loads them from this site only, and an image from
# another site would tell it who reads a health article. Those are left out, their
# description kept.


def test_an_image_on_this_site_is_shown():
    html = render('![The treatment room](/static/images/room.jpg "Our room")').body_html
    assert '<img alt="The treatment room" src="/static/images/room.jpg" title="Our room">' in html


@pytest.mark.parametrize(
    "markdown",
    [
        "![A needle](https://example.org/needle.jpg)",
        "![A needle](http://example.org/needle.jpg)",
        "![A needle](//example.org/needle.jpg)",
        "![A needle](needle.jpg)",
        '<img src="https://example.org/needle.jpg" alt="A needle">',
        '<img src="/\\example.org/needle.jpg" alt="A needle">',
        '<img src="/&#9;/example.org/needle.jpg" alt="A needle">',
        '<img src=" //example.org/needle.jpg" alt="A needle">',
        '<img src="data:image/png;base64,iVBORw0KGgo=" alt="A needle">',
        '<img alt="A needle">',
    ],
)
def test_an_image_from_elsewhere_is_left_out_and_its_description_kept(markdown):
    html = render(f"Before {markdown} after").body_html
    assert html == "<p>Before A needle after</p>"


def test_the_description_of_a_left_out_image_stays_text():
    html = render('![<script>alert(1)</script> & "more"](https://example.org/a.jpg)').body_html
    assert "<img" not in html
    assert "<script" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp;" in html


def test_a_linked_image_from_elsewhere_leaves_its_link_with_the_description():
    html = render("[![NCCIH](https://nccih.example/logo.png)](https://nccih.example/)").body_html
    assert html == '<p><a href="https://nccih.example/" rel="noopener noreferrer">NCCIH</a></p>'
