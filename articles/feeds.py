from django.conf import settings
from django.contrib.syndication.views import Feed
from django.urls import reverse
from django.views.decorators.http import require_safe

from articles.models import Article, one_line


class LatestArticlesFeed(Feed):
    """RSS of the newest published articles. Links use CLINIC_SITE_URL, not the request's host."""

    title = "Articles on back pain and acupuncture"
    description = "New articles from the clinic, each checked by a medical reviewer."

    def __call__(self, request, *args, **kwargs):
        # A feed is only read: PUT, POST or DELETE get a 405, as on every other page.
        response = require_safe(super().__call__)(request, *args, **kwargs)
        # Django dates the feed by its newest item, which does not move when an article is
        # withdrawn or a topic renamed: a reader asking If-Modified-Since would be told
        # nothing changed. Without the date, readers revalidate by the content's ETag.
        del response["Last-Modified"]
        return response

    def link(self):
        return settings.CLINIC_SITE_URL + reverse("articles:list")

    def feed_url(self):
        return settings.CLINIC_SITE_URL + reverse("articles:feed")

    def items(self):
        return Article.objects.published().for_listing()[:20]

    # Through one_line as well: a row saved before the model's clean() made its text one
    # line (or by a path that skips it) must not make the whole feed unreadable XML.
    def item_title(self, item):
        return one_line(item.title)

    def item_description(self, item):
        return one_line(item.summary)

    def item_link(self, item):
        return settings.CLINIC_SITE_URL + item.get_absolute_url()

    def item_guid(self, item):
        return self.item_link(item)

    def item_pubdate(self, item):
        return item.publish_at

    def item_updateddate(self, item):
        return item.changed_at

    def item_author_name(self, item):
        return one_line(item.author_name)

    def item_categories(self, item):
        return [one_line(topic.name) for topic in item.topics.all()]
