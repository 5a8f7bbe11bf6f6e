"""gunicorn settings for production: `gunicorn clinic.wsgi` picks this file up.

gunicorn sits behind a reverse proxy (nginx) that ends TLS and keeps client
connections alive; sync workers then serve one short request at a time.
"""

import ctypes
import gc
import multiprocessing
import os

from gunicorn.glogging import Logger

from clinic.logs import WithoutPatientLinks, without_patient_links

bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("GUNICORN_WORKERS", multiprocessing.cpu_count() * 2 + 1))
worker_class = "sync"
timeout = 30
graceful_timeout = 30
# Restart workers now and then so that a slow leak can never grow unbounded.
max_requests = 2000
max_requests_jitter = 200
# The proxy on the same host is trusted to set X-Forwarded-Proto / -For.
forwarded_allow_ips = os.environ.get("GUNICORN_FORWARDED_ALLOW_IPS", "127.0.0.1,::1")
accesslog = "-"
# Paths only, never query strings; and a patient's link without its token (logger_class).
access_log_format = '%(h)s "%(m)s %(U)s" %(s)s %(B)s %(M)sms'
errorlog = "-"


class LoggerWithoutPatientLinks(Logger):
    """gunicorn's logs, with the token of a patient's link replaced (clinic/logs.py)."""

    def setup(self, cfg):
        super().setup(cfg)
        self.error_log.addFilter(WithoutPatientLinks())

    def atoms(self, resp, req, environ, request_time):
        # Every value a format could name: the path, the request line, the referer...
        return {
            name: without_patient_links(value) if isinstance(value, str) else value
            for name, value in super().atoms(resp, req, environ, request_time).items()
        }


logger_class = LoggerWithoutPatientLinks
preload_app = True


def one_malloc_arena():
    """Let every thread of a worker allocate from one glibc malloc arena.

    A worker has two threads, the request's and the email sender's (booking/emails.py),
    and glibc gives the second an arena of its own: about 2 MB more per worker, for no
    gain under the GIL, which serialises their allocations anyway. This is what the
    MALLOC_ARENA_MAX=1 environment variable does, set here so that no deployment can
    forget it; the forked workers inherit it. Elsewhere than glibc, nothing to do.
    """
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return False
    m_arena_max = -8  # from glibc's malloc.h
    return bool(libc.mallopt(m_arena_max, 1))


one_malloc_arena()


def pre_fork(server, worker):
    """Leave the loaded site (modules, classes, settings) out of the workers' garbage collection.

    With preload_app the master has imported everything, objects that live as long as the
    process. Without this, every full collection in a worker walks them all again: about
    35 ms, a pause for whichever request triggers it, which also writes to their memory and
    so copies it out of what the worker shares with the master. Frozen, they are never
    scanned. Python's documentation of gc.freeze recommends it before a fork.
    """
    gc.freeze()
