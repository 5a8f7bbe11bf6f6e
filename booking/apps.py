from django.apps import AppConfig


class BookingConfig(AppConfig):
    name = "booking"
    verbose_name = "Booking"

    def ready(self):
        from django.core.signals import request_finished, request_started

        import booking.checks  # noqa: F401 (registers the system check booking.E001)
        from booking import emails
        from clinic import generations

        # Cached pages and open times follow the rows they were built from.
        generations.connect_signals()
        # A request's emails go out once its response has (booking/emails.py).
        request_started.connect(emails.request_started, dispatch_uid="booking.emails")
        request_finished.connect(emails.request_finished, dispatch_uid="booking.emails")
