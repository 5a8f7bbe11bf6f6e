from django import forms
from django.contrib import admin, messages
from django.db.models import Count
from django.http import Http404
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.timezone import now
from django.utils.translation import ngettext

from articles.models import Article, Reference, Topic
from articles.views import related_articles
from clinic.admin_base import ModelAdmin


class ReferenceInline(admin.TabularInline):
    model = Reference
    extra = 1
    fields = ["position", "text", "url"]


class VisibilityFilter(admin.SimpleListFilter):
    """What patients see today: a published article with a future date is only scheduled."""

    title = "visible to patients"
    parameter_name = "visibility"

    def lookups(self, request, model_admin):
        return [("live", "Live now"), ("scheduled", "Scheduled"), ("draft", "Draft")]

    def queryset(self, request, queryset):
        match self.value():
            case "live":
                return queryset.published()
            case "scheduled":
                return queryset.scheduled()
            case "draft":
                return queryset.filter(status=Article.Status.DRAFT)
        return queryset


@admin.register(Topic)
class TopicAdmin(ModelAdmin):
    list_display = ["name", "slug", "article_count"]
    search_fields = ["name", "description"]
    prepopulated_fields = {"slug": ["name"]}

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(article_count=Count("articles"))

    @admin.display(description="articles", ordering="article_count")
    def article_count(self, topic):
        return topic.article_count


@admin.register(Article)
class ArticleAdmin(ModelAdmin):
    list_display = [
        "title",
        "visibility",
        "publish_at",
        "topic_names",
        "reviewed_on",
        "preview_link",
    ]
    list_filter = [VisibilityFilter, "topics", "reviewed_on", "concern"]
    search_fields = ["title", "slug", "summary", "body", "author_name", "reviewer_name"]
    prepopulated_fields = {"slug": ["title"]}
    date_hierarchy = "publish_at"
    filter_horizontal = ["topics"]
    inlines = [ReferenceInline]
    actions = ["publish", "unpublish"]
    readonly_fields = ["reading_minutes", "created_at", "updated_at"]
    fieldsets = [
        (None, {"fields": ["title", "slug", "summary", "body", "topics", "concern"]}),
        (
            "Publication",
            {
                "fields": ["status", "publish_at", "author_name"],
                "description": "Save as a draft until it is reviewed. A published article with "
                "a future publish date is scheduled: patients see it from that date.",
            },
        ),
        (
            "Medical review",
            {
                "fields": ["reviewer_name", "reviewed_on"],
                "description": "An article can be published only once a medical reviewer has "
                "checked it: fill in both, and update the date after each review.",
            },
        ),
        ("Record", {"fields": ["reading_minutes", "created_at", "updated_at"]}),
    ]

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("topics")

    def formfield_for_dbfield(self, db_field, request, **kwargs):
        # Room to write: a summary of two sentences, a body of many paragraphs.
        if db_field.name == "summary":
            kwargs["widget"] = forms.Textarea(attrs={"rows": 2, "cols": 80})
        elif db_field.name == "body":
            kwargs["widget"] = forms.Textarea(attrs={"rows": 24, "cols": 80})
        return super().formfield_for_dbfield(db_field, request, **kwargs)

    def get_urls(self):
        preview = self.admin_site.admin_view(self.preview_view)
        return [
            path("<int:pk>/preview/", preview, name="articles_article_preview"),
            *super().get_urls(),
        ]

    def view_on_site(self, article):
        # Patients' address once it is live; the staff-only preview before that.
        if article.is_published:
            return article.get_absolute_url()
        return reverse("admin:articles_article_preview", args=[article.pk])

    @admin.display(description="visible to patients", ordering="status")
    def visibility(self, article):
        return article.status_label()

    @admin.display(description="topics")
    def topic_names(self, article):
        return ", ".join(topic.name for topic in article.topics.all())

    @admin.display(description="preview")
    def preview_link(self, article):
        url = reverse("admin:articles_article_preview", args=[article.pk])
        return format_html('<a href="{}">Preview</a>', url)

    def preview_view(self, request, pk):
        """The article as patients will see it, whatever its status: for staff who edit articles."""
        article = get_object_or_404(Article.objects.prefetch_related("topics", "references"), pk=pk)
        # A 404, not a 403: staff without article permissions learn nothing about drafts.
        if not self.has_view_or_change_permission(request, article):
            raise Http404
        context = {
            "article": article,
            "related_articles": related_articles(article),
            "preview": True,
        }
        return TemplateResponse(request, "articles/article_detail.html", context)

    @admin.action(description="Publish selected articles", permissions=["change"])
    def publish(self, request, queryset):
        drafts = queryset.filter(status=Article.Status.DRAFT)
        unreviewed = list(drafts.exclude(pk__in=drafts.ready_to_publish()))
        scheduled = drafts.ready_to_publish().filter(publish_at__gt=now()).count()
        published = drafts.publish()
        if published:
            message = ngettext(
                "%(count)d article published.", "%(count)d articles published.", published
            ) % {"count": published}
            if scheduled:
                message += ngettext(
                    " %(count)d of them has a future publish date: it appears then.",
                    " %(count)d of them have a future publish date: they appear then.",
                    scheduled,
                ) % {"count": scheduled}
            self.message_user(request, message, messages.SUCCESS)
        if unreviewed:
            titles = format_html_join(", ", "“{}”", ((article.title,) for article in unreviewed))
            self.message_user(
                request,
                format_html(
                    "{} not published: a medical reviewer and a reviewed-on date (today or "
                    "earlier) are needed first ({}).",
                    ngettext("%d article", "%d articles", len(unreviewed)) % len(unreviewed),
                    titles,
                ),
                messages.WARNING,
            )
        if not published and not unreviewed:
            self.message_user(request, "None of the selected articles was a draft.", messages.INFO)

    @admin.action(description="Unpublish selected articles (back to draft)", permissions=["change"])
    def unpublish(self, request, queryset):
        count = queryset.unpublish()
        if count:
            message = ngettext(
                "%(count)d article taken off the site and back to draft.",
                "%(count)d articles taken off the site and back to draft.",
                count,
            ) % {"count": count}
            self.message_user(request, message, messages.SUCCESS)
        else:
            self.message_user(
                request, "None of the selected articles was published.", messages.INFO
            )
