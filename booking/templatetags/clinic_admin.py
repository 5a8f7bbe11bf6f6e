"""What the admin's home page tells staff first: decisions waiting and today's schedule."""

from datetime import timedelta

from django import template
from django.contrib import admin
from django.urls import reverse
from django.utils import timezone
from django.utils.http import urlencode

from booking.models import Appointment
from booking.schedule import local_midnight

register = template.Library()


@register.inclusion_tag("admin/booking/front_desk_summary.html", takes_context=True)
def front_desk_summary(context):
    request = context["request"]
    appointment_admin = admin.site.get_model_admin(Appointment)
    if not appointment_admin.has_view_permission(request):
        return {"show": False}
    visible = appointment_admin.get_queryset(request)
    today = timezone.localdate()
    changelist = reverse("admin:booking_appointment_changelist")
    schedule = reverse("admin:booking_appointment_schedule")
    return {
        "show": True,
        "awaiting": visible.awaiting_decision().count(),
        "awaiting_url": changelist + "?" + urlencode({"status__exact": "requested"}),
        "today_count": visible.active()
        .filter(
            start__gte=local_midnight(today),
            start__lt=local_midnight(today + timedelta(days=1)),
        )
        .count(),
        "schedule_url": schedule,
        "week_url": schedule + "?" + urlencode({"view": "week"}),
    }
