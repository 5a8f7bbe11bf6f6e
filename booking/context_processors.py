from django.conf import settings

from booking.models import Clinic


def clinic(request):
    """The clinic's details for the header, footer and structured data of every page."""
    return {"clinic": Clinic.load(), "site_url": settings.CLINIC_SITE_URL}
