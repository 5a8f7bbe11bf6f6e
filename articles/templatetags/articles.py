from django import template
from django.utils import timezone

from booking.templatetags.clinic import ld_json

register = template.Library()


@register.simple_tag
def article_structured_data(article, site_url, clinic):
    """schema.org MedicalWebPage for an article: who wrote it, who reviewed it and when."""
    url = site_url + article.get_absolute_url()
    data = {
        "@context": "https://schema.org",
        "@type": "MedicalWebPage",
        "@id": url,
        "url": url,
        "name": article.title,
        "headline": article.title,
        "description": article.summary,
        "inLanguage": "en",
        "datePublished": timezone.localtime(article.publish_at).isoformat(),
        "dateModified": timezone.localtime(article.updated_at).isoformat(),
        "author": {"@type": "Person", "name": article.author_name},
        "publisher": {"@type": "MedicalClinic", "name": clinic.name, "url": site_url + "/"},
        "about": [{"@type": "Thing", "name": topic.name} for topic in article.topics.all()],
        "citation": [reference.text for reference in article.references.all()],
    }
    if article.reviewed_on:
        data["lastReviewed"] = article.reviewed_on.isoformat()
    if article.reviewer_name:
        data["reviewedBy"] = {"@type": "Person", "name": article.reviewer_name}
    return ld_json(data)
