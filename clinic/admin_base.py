"""The ModelAdmin every admin of ours builds on, and the same guard for Django's own."""

from django.contrib import admin
from django.contrib.admin import helpers
from django.contrib.auth import admin as auth_admin
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group


class RefuseForgedRowIds:
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


class ModelAdmin(RefuseForgedRowIds, admin.ModelAdmin):
    """The ModelAdmin every admin of ours builds on."""


class UserAdmin(RefuseForgedRowIds, auth_admin.UserAdmin):
    """Staff accounts: Django's own admin, with the guard."""


class GroupAdmin(RefuseForgedRowIds, auth_admin.GroupAdmin):
    """Staff roles: Django's own admin, with the guard."""


def guard_auth_admins(site=admin.site):
    """Register staff accounts and groups with the guard (called once the admin is loaded)."""
    for model, model_admin in ((get_user_model(), UserAdmin), (Group, GroupAdmin)):
        if site.is_registered(model):
            site.unregister(model)
        site.register(model, model_admin)
