"""Admin sign-in throttling (django-axes): 5 failures lock that user name from that address."""

import re

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse

LOGIN = reverse("admin:login")
PASSWORD = "correct-horse-battery-staple"
HOME = "10.0.0.1"
ELSEWHERE = "10.0.0.2"


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def owner(db):
    return User.objects.create_superuser("owner", "owner@example.com", PASSWORD)


def sign_in(username, password, address, client=None):
    client = client or Client()
    response = client.post(
        LOGIN,
        {"username": username, "password": password, "next": reverse("admin:index")},
        REMOTE_ADDR=address,
    )
    return client, response


def signed_in(client):
    return "_auth_user_id" in client.session


def fail_five_times(username=None, address=HOME):
    for _ in range(5):
        _, response = sign_in(username or "owner", "wrong-password", address)
        assert response.status_code in (200, 429)


def test_five_failures_lock_that_user_from_that_address(owner):
    fail_five_times()
    client, response = sign_in("owner", PASSWORD, HOME)
    assert response.status_code == 429
    assert not signed_in(client)


def test_the_lockout_page_says_what_happened(owner):
    fail_five_times()
    _, response = sign_in("owner", PASSWORD, HOME)
    html = response.content.decode()
    assert "Sign-in is locked for now" in html
    assert "too many failed attempts" in html
    assert "one hour" in html


def test_four_failures_do_not_lock(owner):
    for _ in range(4):
        sign_in("owner", "wrong-password", HOME)
    client, response = sign_in("owner", PASSWORD, HOME)
    assert response.status_code == 302
    assert signed_in(client)


def test_the_same_user_can_still_sign_in_from_another_address(owner):
    fail_five_times()
    client, response = sign_in("owner", PASSWORD, ELSEWHERE)
    assert response.status_code == 302
    assert signed_in(client)


def test_another_user_can_still_sign_in_from_the_locked_address(owner):
    User.objects.create_user("frontdesk", password=PASSWORD, is_staff=True)
    fail_five_times()
    client, response = sign_in("frontdesk", PASSWORD, HOME)
    assert response.status_code == 302
    assert signed_in(client)


def test_unknown_user_and_wrong_password_get_the_same_answer(owner):
    _, unknown = sign_in("nobody", "wrong-password", HOME)
    _, wrong = sign_in("owner", "wrong-password", ELSEWHERE)

    def error(response):
        return re.search(r'<p class="errornote">(.*?)</p>', response.text, re.S).group(1).strip()

    assert unknown.status_code == wrong.status_code == 200
    assert error(unknown) == error(wrong)
    assert "correct username and password" in error(wrong)


def test_unknown_user_names_are_locked_too(owner):
    fail_five_times("nobody")
    _, response = sign_in("nobody", "anything", HOME)
    assert response.status_code == 429


def test_the_addresses_of_one_ipv6_network_share_one_lockout(owner):
    # One device holds a whole /64: a new address in it is not a fresh five guesses.
    for n in range(5):
        sign_in("owner", "wrong-password", f"2001:db8:1:2::{n + 1:x}")
    client, response = sign_in("owner", PASSWORD, "2001:db8:1:2::ff")
    assert response.status_code == 429
    assert not signed_in(client)
    # Staff elsewhere are not locked out by it.
    client, _ = sign_in("owner", PASSWORD, "2001:db8:1:3::1")
    assert signed_in(client)
