"""Keep API keys out of the logs, however a client spelled them.

uvicorn logs a websocket's path with its *raw* query string (``get_path_with_query_string``:
``raw_path`` and ``query_string`` as received), while the server decodes it before use:
``?k%65y=<key>`` authenticates as ``key``. So each path and query parameter is decoded the
way the server decodes it (percent escapes, ``+`` in queries; Starlette's ``parse_qsl``)
and then judged: the value of a parameter named ``key``, and any parameter or path that
holds something shaped like a key (``cc_<12 hex>_...``, case-insensitive), is replaced.
"""

from __future__ import annotations

import logging
import re
from urllib.parse import unquote, unquote_plus

__all__ = ["RedactKeys", "redact"]

_TOKEN = re.compile(r"[^\s\"']+")
_KEY_TEXT = re.compile(r"(cc_[0-9a-f]{12}_)[^\s&\"';]*", re.IGNORECASE)
_KEY_NAMES = frozenset({"key", "api_key", "apikey", "x-api-key", "token", "access_token"})


def _param(pair: str) -> str:
    name, eq, value = pair.partition("=")
    dname, dvalue = unquote_plus(name), unquote_plus(value)
    if _KEY_TEXT.search(dname):
        return "***"
    if dname.strip().lower() in _KEY_NAMES or _KEY_TEXT.search(dvalue):
        return f"{name}{eq}***"
    return pair


def _token(token: str) -> str:
    path, sep, query = token.partition("?")
    decoded = unquote(path)
    if _KEY_TEXT.search(decoded):
        path = _KEY_TEXT.sub(r"\1***", decoded)
    if sep:
        query = "&".join(_param(p) for p in query.split("&"))
    return path + sep + query


def redact(text: str) -> str:
    """``text`` with every API key (or key parameter) replaced by ``***``.

    >>> redact('127.0.0.1:5 - "WebSocket /api/v1/live?k%65y=cc_0123456789ab_s3cret" [accepted]')
    '127.0.0.1:5 - "WebSocket /api/v1/live?k%65y=***" [accepted]'
    >>> redact("GET /x?a=1&q=%63c%5F0123456789AB%5Fs3cret /%63c_0123456789ab_zz")
    'GET /x?a=1&q=*** /cc_0123456789ab_***'
    """
    return _TOKEN.sub(lambda m: _token(m.group()), text)


class RedactKeys(logging.Filter):
    """A logging filter that applies :func:`redact` to the formatted message."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except (TypeError, ValueError):  # a malformed record: leave it to logging
            return True
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, ()
        return True
