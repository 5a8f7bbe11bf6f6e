"""What search engines and link previews read: titles, descriptions, canonical URLs, JSON-LD."""

import json
import re
from datetime import timedelta
from xml.etree import ElementTree

from django.urls import reverse
from django.utils import timezone

from articles.models import Article

SITE = "https://clinic.test"  # CLINIC_SITE_URL in the test settings


def meta(html, attribute, name):
    match = re.search(rf'<meta {attribute}="{re.escape(name)}" content="([^"]*)">', html)
    return match.group(1) if match else None


def parse_xml(content):
    return ElementTree.fromstring(content)  # noqa: S314 (our own feed and sitemap)


def structured_data(html):
    blocks = re.findall(r'<script type="application/ld\+json">(.*?)</script>', html, re.S)
    return [json.loads(block) for block in blocks]


def test_article_page_has_title_description_and_canonical(client, clinic, published):
    html = client.get(published.get_absolute_url(), HTTP_HOST="localhost").content.decode()
    assert f"<title>{published.title} · {clinic.name}</title>" in html
    assert meta(html, "name", "description") == published.summary
    # The configured address, not the Host the request came with.
    assert f'<link rel="canonical" href="{SITE}/articles/what-the-research-says/">' in html


def test_article_page_has_open_graph_tags(client, clinic, published, topic):
    html = client.get(published.get_absolute_url()).content.decode()
    assert meta(html, "property", "og:type") == "article"
    assert meta(html, "property", "og:title") == published.title
    assert meta(html, "property", "og:description") == published.summary
    assert meta(html, "property", "og:url") == f"{SITE}{published.get_absolute_url()}"
    assert meta(html, "property", "og:site_name") == clinic.name
    assert meta(html, "property", "article:tag") == topic.name
    assert meta(html, "property", "article:published_time").startswith("20")


def test_article_page_describes_itself_as_a_reviewed_medical_web_page(client, clinic, published):
    html = client.get(published.get_absolute_url()).content.decode()
    page = next(d for d in structured_data(html) if d["@type"] == "MedicalWebPage")
    assert page["url"] == f"{SITE}{published.get_absolute_url()}"
    assert page["headline"] == published.title
    assert page["description"] == published.summary
    assert page["datePublished"].startswith(timezone.localdate(published.publish_at).isoformat())
    assert "dateModified" in page
    assert page["lastReviewed"] == "2026-01-05"
    assert page["reviewedBy"] == {"@type": "Person", "name": "Sam Example"}
    assert page["author"] == {"@type": "Person", "name": "Dana Example"}
    assert page["publisher"]["name"] == clinic.name
    assert page["citation"] == [
        "Vickers AJ et al. Journal of Pain 2018.",
        "Mu J et al. Cochrane 2020.",
    ]


def test_structured_data_cannot_break_out_of_its_script(client, make_article):
    article = make_article(title="</script><script>alert(1)</script>")
    html = client.get(article.get_absolute_url()).content.decode()
    assert "<script>alert(1)</script>" not in html
    assert structured_data(html)[-1]["headline"] == article.title


def test_list_page_has_title_description_and_canonical(client, clinic, published):
    html = client.get(reverse("articles:list"), HTTP_HOST="localhost").content.decode()
    assert f"<title>Articles on back pain and acupuncture · {clinic.name}</title>" in html
    assert meta(html, "name", "description").startswith("Plain-language articles")
    assert f'<link rel="canonical" href="{SITE}/articles/">' in html


def test_later_pages_of_the_list_are_their_own_canonical(client, make_article):
    for _ in range(11):
        make_article()
    html = client.get(reverse("articles:list"), {"page": 2}).content.decode()
    assert f'<link rel="canonical" href="{SITE}/articles/?page=2">' in html


def test_search_results_are_not_indexed(client, published):
    html = client.get(reverse("articles:list"), {"q": "research"}).content.decode()
    assert '<meta name="robots" content="noindex, follow">' in html
    assert f'<link rel="canonical" href="{SITE}/articles/">' in html


def test_topic_page_has_its_own_title_and_canonical(client, clinic, published, topic):
    html = client.get(topic.get_absolute_url()).content.decode()
    assert f"<title>{topic.name}: articles · {clinic.name}</title>" in html
    assert f'<link rel="canonical" href="{SITE}{topic.get_absolute_url()}">' in html


def test_feed_links_point_at_the_configured_site(client, published, topic):
    response = client.get(reverse("articles:feed"), HTTP_HOST="localhost")
    assert response["Content-Type"].startswith("application/rss+xml")
    channel = parse_xml(response.content).find("channel")
    assert channel.findtext("link") == f"{SITE}/articles/"
    item = channel.find("item")
    assert item.findtext("title") == published.title
    assert item.findtext("link") == f"{SITE}{published.get_absolute_url()}"
    assert item.findtext("description") == published.summary
    assert item.findtext("category") == topic.name
    assert item.findtext("pubDate")


def test_sitemap_lists_articles_and_topics_with_lastmod_on_the_configured_site(
    client, published, topic
):
    response = client.get(reverse("sitemap"), HTTP_HOST="localhost")
    ns = {"s": "http://www.sitemaps.org/schemas/sitemap/0.9"}
    entries = {
        url.findtext("s:loc", namespaces=ns): url.findtext("s:lastmod", namespaces=ns)
        for url in parse_xml(response.content).findall("s:url", ns)
    }
    article_url = f"{SITE}{published.get_absolute_url()}"
    # The clinic's date, not UTC's: they differ for a few hours each evening.
    updated_on = timezone.localdate(published.updated_at).isoformat()
    assert entries[article_url] == updated_on
    assert entries[f"{SITE}{topic.get_absolute_url()}"] == updated_on


def test_sitemap_dates_a_scheduled_article_and_its_topic_from_the_day_it_appeared(
    client, make_article, topic
):
    # Written ten days ago and scheduled for this morning: its page, and its topic's page,
    # first showed it today, which is what tells a search engine to look again.
    article = make_article(title="Moxibustion, explained", slug="moxibustion", topics=[topic])
    went_live = timezone.now() - timedelta(minutes=5)
    Article.objects.filter(pk=article.pk).update(
        updated_at=timezone.now() - timedelta(days=10), publish_at=went_live
    )
    response = client.get(reverse("sitemap"))
    ns = {"s": "http://www.sitemaps.org/schemas/sitemap/0.9"}
    entries = {
        url.findtext("s:loc", namespaces=ns): url.findtext("s:lastmod", namespaces=ns)
        for url in parse_xml(response.content).findall("s:url", ns)
    }
    today = timezone.localdate(went_live).isoformat()
    assert entries[f"{SITE}{article.get_absolute_url()}"] == today
    assert entries[f"{SITE}{topic.get_absolute_url()}"] == today
