"""A change made through one app server is seen by every other one at once.

Cached pages and open times carry a generation token (clinic/generations.py); what one
process replaces, another process must read on its very next request.
"""

import os

import pytest
from django.db import connection

from clinic import generations


def test_a_change_replaces_the_token_at_once(db):
    before = generations.current(generations.PAGES)
    generations.bump(generations.PAGES)
    after = generations.current(generations.PAGES)
    assert after != before
    assert generations.current(generations.PAGES) == after  # stable until the next change
    assert generations.current(generations.AVAILABILITY) != after


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_change_made_by_another_process_is_seen_here(db):
    if connection.vendor == "sqlite" and connection.is_in_memory_db():
        pytest.skip("an in-memory database belongs to one process: run on PostgreSQL")
    before = generations.current(generations.PAGES)
    child = os.fork()
    if child == 0:  # another worker of the same site
        try:
            generations.bump(generations.PAGES)
        finally:
            os._exit(0)
    os.waitpid(child, 0)
    assert generations.current(generations.PAGES) != before
