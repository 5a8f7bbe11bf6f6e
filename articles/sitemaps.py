from urllib.parse import urlsplit

from django.conf import settings
from django.contrib.sitemaps import Sitemap

from articles.models import Article, Topic


class SiteURLSitemap(Sitemap):
    """Entries on CLINIC_SITE_URL, whatever Host header the request came with."""

    def get_protocol(self, protocol=None):
        return urlsplit(settings.CLINIC_SITE_URL).scheme

    def get_domain(self, site=None):
        return urlsplit(settings.CLINIC_SITE_URL).netloc


class ArticleSitemap(SiteURLSitemap):
    changefreq = "monthly"

    def items(self):
        return Article.objects.published().only("slug", "updated_at", "publish_at")

    def lastmod(self, item):
        return item.changed_at


class TopicSitemap(SiteURLSitemap):
    changefreq = "weekly"

    def items(self):
        return Topic.objects.with_published_articles().order_by("name")

    def lastmod(self, item):
        return item.last_updated_at
