"""Random text and bytes in every field of the request form and in the article search.

Never a 5xx; and an appointment exists exactly when the answer was the patient's own page.
Bounded (a fixed number of examples, no deadline) so that the suite stays quick.
"""

from urllib.parse import quote, quote_from_bytes

import pytest
from django.core.cache import caches
from django.utils import timezone
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from articles.models import Article
from booking.models import Appointment, OutgoingEmail
from tests.security.conftest import BOOK, FORM_FIELDS

FUZZ = settings(
    max_examples=100,
    deadline=None,
    database=None,  # the same examples on every run and every machine
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

# What can arrive in a field: any text (lone surrogates become invalid UTF-8), any bytes,
# and the characters that break parsers, databases and email headers.
NASTY = st.sampled_from(
    ["", " ", "\x00", "\r\n", "\u202e", "%00", "'", '"', "<", "{{", "\\", "\ufeff", "🧘" * 50]
)
VALUES = st.one_of(
    st.text(max_size=300).map(lambda t: t.encode("utf-8", "surrogatepass")),
    st.binary(max_size=300),
    NASTY.map(str.encode),
    st.lists(NASTY, min_size=1, max_size=5).map(lambda parts: "".join(parts).encode()),
)
FIELDS = [*FORM_FIELDS, "form_token", "source_article", "csrfmiddlewaretoken", "status"]


def form_body(data, changes, repeated):
    pairs = [(key, str(value).encode()) for key, value in data.items() if key not in changes]
    pairs += list(changes.items()) + list(repeated)
    return "&".join(f"{quote(key)}={quote_from_bytes(value)}" for key, value in pairs)


@pytest.fixture
def fresh(db):
    """Start each example as the first: no appointment, no email, no rate counted."""

    def reset():
        Appointment.objects.all().delete()
        OutgoingEmail.objects.all().delete()
        for cache in caches.all():
            cache.clear()

    return reset


@FUZZ
@given(
    changes=st.dictionaries(st.sampled_from(FIELDS), VALUES, max_size=4),
    repeated=st.lists(st.tuples(st.sampled_from(FIELDS), VALUES), max_size=2),
)
def test_random_form_fields_never_break_the_form(client, request_data, fresh, changes, repeated):
    fresh()
    body = form_body(request_data(), changes, repeated)
    response = client.post(BOOK, body, content_type="application/x-www-form-urlencoded")
    assert response.status_code < 500
    appointments = list(Appointment.objects.all())
    event("booked" if appointments else f"answered {response.status_code}")
    if response.status_code == 302 and response.url.startswith("/book/request/"):
        (appointment,) = appointments
        assert response.url == appointment.patient_url
        for text in (appointment.first_name, appointment.last_name, appointment.email):
            assert text == text.strip() and text.isprintable(), repr(text)
        assert "\x00" not in appointment.message
    else:
        assert appointments == []
        assert response.status_code in (200, 302, 400, 429)


@pytest.fixture
def articles(db):
    for n, title in enumerate(["Acupuncture for sciatica", "Needles and chronic back pain"]):
        Article.objects.create(
            title=title,
            slug=f"article-{n}",
            summary="What the research says.",
            body="Thin needles, placed by a licensed practitioner.",
            author_name="Maya Chen",
            status=Article.Status.PUBLISHED,
            publish_at=timezone.now() - timezone.timedelta(days=n + 1),
        )


@FUZZ
@given(query=VALUES, page=st.one_of(st.none(), VALUES))
def test_random_searches_never_break_the_article_list(client, articles, query, page):
    url = f"/articles/?q={quote_from_bytes(query)}"
    if page is not None:
        url += f"&page={quote_from_bytes(page)}"
    response = client.get(url)
    assert response.status_code in (200, 404)
    if response.status_code == 200:
        main = response.content.decode().split("<main", 1)[1].split("</main>")[0]
        assert "<script" not in main.lower()
