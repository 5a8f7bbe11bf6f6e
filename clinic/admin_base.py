"""The ModelAdmin every admin of ours builds on."""

from django.contrib import admin
from django.contrib.admin import helpers


class ModelAdmin(admin.ModelAdmin):
    """Actions on the rows ticked in the list, refusing ids that no row could have.

    Django passes the ticked ids to the database as they were posted: a forged one
    ("abc") was a server error instead of an answer, for our own actions and for
    Django's "delete selected" alike. Every primary key here is an integer.
    """

    def response_action(self, request, queryset, **kwargs):
        selected = request.POST.getlist(helpers.ACTION_CHECKBOX_NAME)
        if not all(pk.isdigit() for pk in selected):
            self.message_user(request, "Nothing was changed: choose rows in the list.")
            return None
        return super().response_action(request, queryset, **kwargs)
