"""CLINIC_BOOKING_RATE and CLINIC_BOOKING_EMAIL_RATE are checked when the site starts.

Before, they were parsed only when a complete request arrived, so a typo ("10/hour") or a
zero ("5/0h") passed `manage.py check` and then turned every patient's request into a 500.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core import checks
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.test import override_settings

from booking.throttle import parse_rate

ROOT = Path(__file__).resolve().parent.parent.parent

SETTINGS = ("CLINIC_BOOKING_RATE", "CLINIC_BOOKING_EMAIL_RATE")
BAD_RATES = ("10/hour", "5/0h", "0/h", "", "abc", "-1/h", "5/-1h", "0/0d")
# The defaults and what README.md, .env.example and booking/throttle.py show.
GOOD_RATES = ("5/h", "3/d", "10/15m", " 2 / s ", "100000/h")


def rate_errors():
    """The issues the registered checks report about the booking rates."""
    return [issue for issue in checks.run_checks() if issue.id == "booking.E001"]


@pytest.mark.parametrize("setting", SETTINGS)
@pytest.mark.parametrize("rate", BAD_RATES)
def test_a_bad_rate_is_an_error_naming_the_setting_and_the_value(setting, rate):
    with override_settings(**{setting: rate}):
        errors = rate_errors()
    assert len(errors) == 1
    error = errors[0]
    assert isinstance(error, checks.Error)
    assert error.level == checks.ERROR
    assert setting in error.msg
    assert repr(rate) in error.msg
    assert "5/h" in error.hint  # an example of a valid rate


@pytest.mark.parametrize("setting", SETTINGS)
@pytest.mark.parametrize("rate", [None, 5])
def test_a_rate_that_is_not_text_is_an_error(setting, rate):
    with override_settings(**{setting: rate}):
        errors = rate_errors()
    assert len(errors) == 1
    assert setting in errors[0].msg


def test_both_bad_rates_are_reported_at_once():
    with override_settings(CLINIC_BOOKING_RATE="10/hour", CLINIC_BOOKING_EMAIL_RATE="3/0d"):
        errors = rate_errors()
    assert [e.msg.split(":")[0] for e in errors] == list(SETTINGS)


def test_the_default_rates_pass(settings):
    assert (settings.CLINIC_BOOKING_RATE, settings.CLINIC_BOOKING_EMAIL_RATE) == ("5/h", "3/d")
    assert rate_errors() == []


@pytest.mark.parametrize("setting", SETTINGS)
@pytest.mark.parametrize("rate", GOOD_RATES)
def test_documented_rates_pass(setting, rate):
    with override_settings(**{setting: rate}):
        assert rate_errors() == []


@pytest.mark.parametrize("rate", ["0/h", "5/0h", "0/0d", "00/h", "5/00m"])
def test_parse_rate_refuses_a_zero_count_or_window(rate):
    with pytest.raises(ValueError, match="at least 1"):
        parse_rate(rate)


@pytest.mark.parametrize("rate", ["-1/h", "5/-1h", "10/hour", "", None])
def test_parse_rate_refuses_what_is_not_a_rate(rate):
    with pytest.raises(ValueError, match="Not a rate"):
        parse_rate(rate)


@pytest.mark.parametrize("rate", ["10/hour", "5/0h"])
def test_manage_py_check_refuses_a_bad_rate(rate):
    with override_settings(CLINIC_BOOKING_RATE=rate):
        with pytest.raises(SystemCheckError, match="CLINIC_BOOKING_RATE"):
            call_command("check")
        with pytest.raises(SystemCheckError, match="CLINIC_BOOKING_RATE"):
            call_command("check", deploy=True)


@pytest.mark.django_db
def test_migrate_refuses_a_bad_rate():
    with (
        override_settings(CLINIC_BOOKING_EMAIL_RATE="3/day"),
        pytest.raises(SystemCheckError, match="CLINIC_BOOKING_EMAIL_RATE"),
    ):
        call_command("migrate", skip_checks=False, verbosity=0)


def test_check_good_rates_pass():
    call_command("check")


def test_a_mistyped_environment_variable_stops_check_deploy():
    """End to end: the variable as an operator sets it, read by clinic/settings.py."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "CLINIC_"))}
    env.update(
        DJANGO_SECRET_KEY="a-long-random-production-secret-key-0123456789-abcdefghijklmnopqrstu",
        DJANGO_ALLOWED_HOSTS="clinic.example.org",
        CLINIC_SITE_URL="https://clinic.example.org",
        CLINIC_BOOKING_RATE="10/hour",
    )
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0
    assert "booking.E001" in result.stderr
    assert "CLINIC_BOOKING_RATE" in result.stderr
    assert "'10/hour'" in result.stderr
