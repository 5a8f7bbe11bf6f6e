import json

from django import template
from django.utils.html import format_html
from django.utils.safestring import mark_safe

from booking.models import WorkingHours

register = template.Library()

# The characters that could end a <script> element or open a comment inside it.
_JSON_ESCAPES = {ord(">"): "\\u003E", ord("<"): "\\u003C", ord("&"): "\\u0026"}


@register.filter
def ld_json(data):
    """Render a dict as a schema.org JSON-LD block, safe to embed in HTML."""
    payload = json.dumps(data, default=str).translate(_JSON_ESCAPES)
    # Safe: json.dumps escapes quotes, and the translation above escapes < > &.
    return format_html(
        '<script type="application/ld+json">{}</script>',
        mark_safe(payload),  # noqa: S308
    )


@register.simple_tag
def clinic_structured_data(clinic, site_url, opening_hours=()):
    """schema.org MedicalClinic for the clinic's details.

    Opening hours as schema.org reads them (days and 24-hour times), from the weekly
    hours practitioners work (availability.weekly_opening_hours): the footer's text is
    for people, in the owner's words.
    """
    data = {
        "@context": "https://schema.org",
        "@type": "MedicalClinic",
        "name": clinic.name,
        "url": site_url + "/",
        "medicalSpecialty": "Acupuncture",
        "address": {
            "@type": "PostalAddress",
            "streetAddress": clinic.street_address,
            "addressLocality": clinic.locality,
            "addressRegion": clinic.region,
            "postalCode": clinic.postal_code,
            "addressCountry": clinic.country,
        },
    }
    if clinic.phone:
        data["telephone"] = clinic.phone
    if clinic.email:
        data["email"] = clinic.email
    if clinic.map_url:
        data["hasMap"] = clinic.map_url
    if opening_hours:
        data["openingHoursSpecification"] = [
            {
                "@type": "OpeningHoursSpecification",
                "dayOfWeek": f"https://schema.org/{WorkingHours.Weekday(weekday).label}",
                "opens": f"{opens:%H:%M}",
                "closes": f"{closes:%H:%M}",
            }
            for weekday, opens, closes in opening_hours
        ]
    return ld_json(data)
