"""gunicorn settings for production: `gunicorn clinic.wsgi` picks this file up.

gunicorn sits behind a reverse proxy (nginx) that ends TLS and keeps client
connections alive; sync workers then serve one short request at a time.
"""

import multiprocessing
import os

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
# Paths only, never query strings: a patient's link must not reach a log file.
access_log_format = '%(h)s "%(m)s %(U)s" %(s)s %(B)s %(M)sms'
errorlog = "-"
preload_app = True
