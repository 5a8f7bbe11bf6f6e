"""The calendar file (.ics) attached to a patient's confirmation, reschedule and cancellation.

Times are written in UTC (DTSTART:...Z): every calendar application converts them to the
reader's own zone, and no VTIMEZONE block can go stale when time-zone rules change.
"""

from datetime import UTC
from urllib.parse import urlsplit

from django.conf import settings
from django.utils import timezone

from booking.models import Clinic

PRODUCT_ID = "-//Clinic website//Appointments//EN"


def appointment_uid(appointment):
    """The same for every file about one appointment, so updates replace the first entry."""
    host = urlsplit(settings.CLINIC_SITE_URL).hostname or "localhost"
    return f"appointment-{appointment.reference}@{host}"


def appointment_ics(appointment, *, cancelled=False):
    """The appointment as an iCalendar file (text with CRLF line ends).

    A cancellation carries STATUS:CANCELLED and a SEQUENCE one above the last file sent,
    so calendars that imported the appointment know this file is newer.
    """
    clinic = Clinic.load()
    # Imported on first use: icalendar and dateutil are 3-4 MB that a worker serving
    # only the public pages never needs.
    import icalendar

    calendar = icalendar.Calendar()
    calendar.add("prodid", PRODUCT_ID)
    calendar.add("version", "2.0")
    # A CANCEL names its organizer (RFC 5546); without the clinic's email, a published
    # STATUS:CANCELLED says the same to calendars that import it.
    calendar.add("method", "CANCEL" if cancelled and clinic.email else "PUBLISH")

    event = icalendar.Event()
    event.add("uid", appointment_uid(appointment))
    event.add("dtstamp", timezone.now().astimezone(UTC))
    event.add("dtstart", appointment.start.astimezone(UTC))
    event.add("dtend", appointment.end.astimezone(UTC))
    event.add("sequence", appointment.sequence + 1 if cancelled else appointment.sequence)
    event.add("status", "CANCELLED" if cancelled else "CONFIRMED")
    service, practitioner = appointment.service, appointment.practitioner
    if service.by_phone:
        # No location: nobody comes in for it.
        event.add("summary", f"Phone call: {service.name}, {clinic.name}")
        # Calendars get shared: the phone number stays out, even its last digits.
        description = [f"{practitioner.name} will call you on the number you gave us"]
    else:
        event.add("summary", f"{service.name} at {clinic.name}")
        address = ", ".join(clinic.address_lines)
        if address:
            event.add("location", address)
        description = [f"With {practitioner.name}"]
    description.append(f"Reference: {appointment.reference}")
    if clinic.phone:
        description.append(f"To change or cancel, call {clinic.phone}")
    event.add("description", "\n".join(description))
    if clinic.email:
        event.add("organizer", f"mailto:{clinic.email}", parameters={"cn": clinic.name})
    calendar.add_component(event)
    return calendar.to_ical().decode()
