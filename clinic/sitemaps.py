from django.urls import reverse

from articles.sitemaps import SiteURLSitemap


class StaticViewSitemap(SiteURLSitemap):
    changefreq = "monthly"

    def items(self):
        return ["home", "articles:list", "booking:request"]

    def location(self, item):
        return reverse(item)
