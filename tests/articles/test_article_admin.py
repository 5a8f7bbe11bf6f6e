"""The admin for content editors: lists, actions, and a preview of drafts only they can open."""

from datetime import timedelta

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse
from django.utils import timezone

from articles.models import Article, Topic

CHANGELIST = reverse("admin:articles_article_changelist")


def preview_url(article):
    return reverse("admin:articles_article_preview", args=[article.pk])


def run_action(client, action, articles):
    return client.post(
        CHANGELIST,
        {"action": action, "_selected_action": [a.pk for a in articles]},
        follow=True,
    )


def messages_of(response):
    return [str(m) for m in get_messages(response.wsgi_request)] or [
        str(m) for m in response.context["messages"]
    ]


@pytest.mark.parametrize(
    "url_name",
    [
        "admin:articles_article_changelist",
        "admin:articles_article_add",
        "admin:articles_topic_changelist",
        "admin:articles_topic_add",
    ],
)
def test_editor_with_only_article_permissions_can_open_the_article_admin(
    editor_client, published, draft, url_name
):
    assert editor_client.get(reverse(url_name)).status_code == 200


def test_changelist_shows_status_publish_date_topics_and_review(
    editor_client, published, draft, scheduled
):
    html = editor_client.get(CHANGELIST).content.decode()
    for label in ["Published", "Draft", "Scheduled", "The evidence", "Mon, Jan 5, 2026"]:
        assert label in html
    assert preview_url(draft) in html


def test_changelist_filters_scheduled_articles(editor_client, published, draft, scheduled):
    response = editor_client.get(CHANGELIST, {"visibility": "scheduled"})
    assert list(response.context["cl"].result_list) == [scheduled]


def test_changelist_searches_titles(editor_client, published, draft):
    response = editor_client.get(CHANGELIST, {"q": "secret"})
    assert list(response.context["cl"].result_list) == [draft]


def test_editor_can_change_an_article_with_its_references(editor_client, published):
    url = reverse("admin:articles_article_change", args=[published.pk])
    response = editor_client.get(url)
    assert response.status_code == 200
    assert "Vickers AJ" in response.content.decode()
    assert 'id="id_slug"' in response.content.decode()


def test_body_field_says_images_must_be_files_on_this_site(editor_client):
    html = editor_client.get(reverse("admin:articles_article_add")).content.decode()
    assert "Images must be files on this site, for example a static file" in html
    assert "An image from another site is left out" in html


def test_editor_can_write_a_draft_in_the_admin(editor_client, topic):
    response = editor_client.post(
        reverse("admin:articles_article_add"),
        {
            "title": "New draft",
            "slug": "new-draft",
            "summary": "A summary.",
            "body": "## One\r\n\r\ntext\r\n\r\n## Two\r\n\r\n<script>x</script>",
            "topics": [topic.pk],
            "concern": "",
            "status": "draft",
            "author_name": "Dana Example",
            "references-TOTAL_FORMS": "2",
            "references-INITIAL_FORMS": "0",
            "references-0-position": "1",
            "references-0-text": "NCCIH. Acupuncture.",
            "references-0-url": "https://www.nccih.nih.gov/",
            "references-1-position": "0",
            "references-1-text": "",
            "references-1-url": "",
        },
    )
    assert response.status_code == 302, response.context["adminform"].form.errors
    article = Article.objects.get(slug="new-draft")
    assert article.status == Article.Status.DRAFT
    assert "<script" not in article.body_html
    assert 'href="#section-two"' in article.toc_html
    assert [r.text for r in article.references.all()] == ["NCCIH. Acupuncture."]


def test_admin_refuses_to_publish_an_unreviewed_article(editor_client):
    response = editor_client.post(
        reverse("admin:articles_article_add"),
        {
            "title": "Unreviewed",
            "slug": "unreviewed",
            "summary": "A summary.",
            "body": "text",
            "status": "published",
            "author_name": "Dana Example",
            "references-TOTAL_FORMS": "0",
            "references-INITIAL_FORMS": "0",
        },
    )
    assert response.status_code == 200
    assert "A published article needs its medical reviewer." in response.content.decode()
    assert not Article.objects.exists()


def test_publish_action_publishes_reviewed_drafts_and_says_how_many(
    editor_client, make_article, published
):
    reviewed = [make_article(status=Article.Status.DRAFT, publish_at=None) for _ in range(2)]
    response = run_action(editor_client, "publish", [*reviewed, published])
    assert "2 articles published." in messages_of(response)
    for article in reviewed:
        article.refresh_from_db()
        assert article.is_published
    assert editor_client.get(reviewed[0].get_absolute_url()).status_code == 200


def test_publish_action_leaves_unreviewed_drafts_and_names_them(editor_client, make_article):
    unreviewed = make_article(
        title="Needs review", status=Article.Status.DRAFT, reviewer_name="", reviewed_on=None
    )
    response = run_action(editor_client, "publish", [unreviewed])
    text = " ".join(messages_of(response))
    assert "1 article not published" in text
    assert "“Needs review”" in text
    unreviewed.refresh_from_db()
    assert unreviewed.status == Article.Status.DRAFT


def test_publish_action_leaves_a_draft_whose_review_date_is_still_to_come(
    editor_client, make_article
):
    # Saved before future review dates were refused on the form.
    early = make_article(
        title="Reviewed tomorrow",
        status=Article.Status.DRAFT,
        reviewed_on=timezone.localdate() + timedelta(days=1),
    )
    response = run_action(editor_client, "publish", [early])
    assert "1 article not published" in " ".join(messages_of(response))
    early.refresh_from_db()
    assert early.status == Article.Status.DRAFT


def test_publishing_a_draft_with_a_future_date_schedules_it(editor_client, make_article):
    future = timezone.now() + timedelta(days=3)
    draft = make_article(status=Article.Status.DRAFT, publish_at=future)
    response = run_action(editor_client, "publish", [draft])
    assert any("future publish date" in m for m in messages_of(response))
    draft.refresh_from_db()
    assert draft.is_scheduled
    assert draft.publish_at == future
    assert editor_client.get(draft.get_absolute_url()).status_code == 404


def test_unpublish_action_takes_articles_off_the_site_and_says_how_many(
    editor_client, make_article, client
):
    articles = [make_article() for _ in range(3)]
    response = run_action(editor_client, "unpublish", articles)
    assert "3 articles taken off the site and back to draft." in messages_of(response)
    assert Article.objects.published().count() == 0
    editor_client.logout()
    assert client.get(articles[0].get_absolute_url()).status_code == 404


def test_actions_work_with_a_topic_filter_applied(editor_client, make_article, topic):
    article = make_article(topics=[topic])
    response = editor_client.post(
        f"{CHANGELIST}?topics__id__exact={topic.pk}",
        {"action": "unpublish", "_selected_action": [article.pk]},
        follow=True,
    )
    assert "1 article taken off the site and back to draft." in messages_of(response)


def test_staff_without_change_permission_cannot_publish(client, django_user_model, draft):
    from django.contrib.auth.models import Permission

    viewer = django_user_model.objects.create_user("viewer", password="pw-123456789")
    viewer.is_staff = True
    viewer.save()
    viewer.user_permissions.set(Permission.objects.filter(codename="view_article"))
    client.force_login(viewer, backend="django.contrib.auth.backends.ModelBackend")
    run_action(client, "publish", [draft])
    draft.refresh_from_db()
    assert draft.status == Article.Status.DRAFT


# Preview


def test_editor_can_preview_a_draft_as_patients_would_see_it(editor_client, draft):
    response = editor_client.get(preview_url(draft))
    html = response.content.decode()
    assert response.status_code == 200
    assert f"<h1>{draft.title}</h1>" in html
    assert "This is a draft: patients cannot see it." in html
    assert '<meta name="robots" content="noindex, nofollow">' in html
    assert "no-store" in response["Cache-Control"]  # never kept in a shared cache


def test_preview_of_a_scheduled_article_says_when_it_appears(editor_client, scheduled):
    html = editor_client.get(preview_url(scheduled)).content.decode()
    assert "This article is scheduled" in html


def test_preview_of_an_article_scheduled_in_the_afternoon_ends_its_sentence_once(
    editor_client, make_article
):
    # The date ends in "p.m.": a full stop after it would be the second.
    afternoon = (timezone.localtime() + timedelta(days=7)).replace(hour=16, minute=2)
    article = make_article(publish_at=afternoon)
    html = editor_client.get(preview_url(article)).content.decode()
    assert afternoon.strftime("%B %-d, %Y, 4:02 p.m.") in html
    assert "p.m.." not in html


def test_anonymous_visitor_is_sent_to_the_login_page_from_a_preview(client, draft):
    response = client.get(preview_url(draft))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:login"))


def test_staff_without_article_permissions_cannot_preview(client, front_desk, draft):
    client.force_login(front_desk, backend="django.contrib.auth.backends.ModelBackend")
    response = client.get(preview_url(draft))
    assert response.status_code == 404
    assert draft.title not in response.content.decode()


def test_logged_in_patient_account_cannot_preview(client, django_user_model, draft):
    user = django_user_model.objects.create_user("someone", password="pw-123456789")
    client.force_login(user, backend="django.contrib.auth.backends.ModelBackend")
    response = client.get(preview_url(draft))
    assert response.status_code == 302
    assert draft.title not in response.content.decode()


def test_change_page_links_a_draft_to_its_preview(editor_client, draft, published):
    html = editor_client.get(
        reverse("admin:articles_article_change", args=[draft.pk])
    ).content.decode()
    assert preview_url(draft) in html
    html = editor_client.get(
        reverse("admin:articles_article_change", args=[published.pk])
    ).content.decode()
    assert published.get_absolute_url() in html


def test_topic_admin_counts_articles(editor_client, published, draft):
    html = editor_client.get(reverse("admin:articles_topic_changelist")).content.decode()
    assert Topic.objects.get().name in html
    assert '<td class="field-article_count">2</td>' in html


def test_member_of_the_content_editor_group_can_edit_preview_and_publish(
    client, django_user_model, make_article
):
    from django.contrib.auth.models import Group

    user = django_user_model.objects.create_user("writer", password="pw-123456789", is_staff=True)
    user.groups.add(Group.objects.get(name="Content editor"))
    client.force_login(user, backend="django.contrib.auth.backends.ModelBackend")
    draft = make_article(status=Article.Status.DRAFT, publish_at=None)
    assert client.get(CHANGELIST).status_code == 200
    assert client.get(reverse("admin:articles_article_change", args=[draft.pk])).status_code == 200
    assert client.get(preview_url(draft)).status_code == 200
    assert "1 article published." in messages_of(run_action(client, "publish", [draft]))
