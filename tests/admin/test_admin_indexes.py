"""The appointment list's ordering and search can use their indexes (PostgreSQL).

With a few rows the planner rightly prefers reading the table; the other ways are switched
off here to prove the indexes match the queries the admin really sends, so that the list
stays fast with 100,000 appointments.
"""

import pytest
from django.contrib import admin
from django.contrib.admin.views.main import ChangeList
from django.db import connection
from django.test import RequestFactory

from booking.admin import AppointmentAdmin
from booking.models import Appointment

pytestmark = pytest.mark.postgres


@pytest.fixture(autouse=True)
def _needs_postgresql(db):
    if connection.vendor != "postgresql":
        pytest.skip(
            "the indexes checked here are PostgreSQL's (run with DATABASE_URL=postgres://...)"
        )


def plan_of_list(admin_user, params, *switched_off):
    request = RequestFactory().get("/admin/booking/appointment/", params)
    request.user = admin_user
    model_admin = admin.site.get_model_admin(Appointment)
    assert isinstance(model_admin, AppointmentAdmin)
    changelist = model_admin.get_changelist_instance(request)
    assert isinstance(changelist, ChangeList)
    page = changelist.queryset[:50]
    with connection.cursor() as cursor:
        for plan_kind in switched_off:
            cursor.execute(f"SET LOCAL enable_{plan_kind} = off")
    return page.explain()


def test_queue_order_uses_its_index(admin_user, request_at):
    request_at(9)
    # Without sorting the rows itself, the database must read them in the index's order.
    plan = plan_of_list(admin_user, {}, "seqscan", "sort")
    assert "booking_appt_queue" in plan, plan


def test_search_uses_the_trigram_index(admin_user, request_at):
    request_at(9)
    # Without reading whole tables or whole indexes, only the search index can answer.
    off = ("seqscan", "indexscan", "indexonlyscan")
    for typed in ("lovelace", "(212) 555-0123"):
        plan = plan_of_list(admin_user, {"q": typed}, *off)
        assert "booking_appt_search_trgm" in plan, plan
