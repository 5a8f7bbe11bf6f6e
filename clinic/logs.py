"""Keep patients' links out of the logs.

A patient's link (/book/request/<token>/, booking/urls.py) is the key to their request:
whoever has it sees the request and can cancel it. Django logs the path of a refused or
failed request, gunicorn the path of every one; both go through `without_patient_links`,
which keeps the path's shape for whoever reads the log and drops the token.
"""

import logging
import re
from collections.abc import Mapping

_TOKEN_IN_PATH = re.compile(r"(/request/)[^/?#\s\"']+")


def without_patient_links(text):
    return _TOKEN_IN_PATH.sub(r"\1[token]", text)


def _redacted(value):
    return without_patient_links(value) if isinstance(value, str) else value


class WithoutPatientLinks(logging.Filter):
    """For a handler: the record's message, arguments and traceback, without tokens."""

    def filter(self, record):
        record.msg = _redacted(record.msg)
        if isinstance(record.args, Mapping):
            record.args = {key: _redacted(value) for key, value in record.args.items()}
        elif record.args:
            record.args = tuple(_redacted(value) for value in record.args)
        if record.exc_info and not record.exc_text:
            # Formatters print exc_text when it is set: an exception's message may hold a path.
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        record.exc_text = _redacted(record.exc_text)
        return True
