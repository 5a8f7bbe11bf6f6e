from django.shortcuts import get_object_or_404
from django.views.generic import DetailView, ListView

from articles.models import Article, Topic
from clinic import pagecache

# Longer queries are typing accidents or abuse; a person never needs more to find an article.
MAX_QUERY_LENGTH = 200


class ArticleListView(ListView):
    """Published articles, newest first, or the best matches for `?q=`."""

    template_name = "articles/article_list.html"
    context_object_name = "articles"
    paginate_by = 10

    def get_queryset(self):
        # NUL characters cannot reach PostgreSQL; runs of spaces mean nothing to a reader.
        query = self.request.GET.get("q", "").replace("\x00", "")
        self.query = " ".join(query.split())[:MAX_QUERY_LENGTH]
        return Article.objects.published().for_listing().search(self.query)

    def paginate_queryset(self, queryset, page_size):
        paginated = super().paginate_queryset(queryset, page_size)
        pagecache.shows_page(self.request, paginated[1].number)
        return paginated

    def get_context_data(self, **kwargs):
        return super().get_context_data(
            query=self.query,
            topics=Topic.objects.with_published_articles(),
            **kwargs,
        )


class TopicView(ArticleListView):
    """The published articles of one topic (searchable within it)."""

    def get_queryset(self):
        self.topic = get_object_or_404(Topic, slug=self.kwargs["slug"])
        return super().get_queryset().filter(topics=self.topic)

    def get_context_data(self, **kwargs):
        return super().get_context_data(topic=self.topic, **kwargs)


class ArticleDetailView(DetailView):
    template_name = "articles/article_detail.html"
    context_object_name = "article"

    def get_queryset(self):
        return Article.objects.published().prefetch_related("topics", "references")

    def get_context_data(self, **kwargs):
        return super().get_context_data(related_articles=related_articles(self.object), **kwargs)


def related_articles(article):
    """Up to three published articles sharing a topic with `article`."""
    return list(
        Article.objects.published().related_to(article).defer("body", "body_html", "toc_html")[:3]
    )
