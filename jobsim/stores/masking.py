"""``mask_url`` and ``scrub``: store URLs and driver errors safe to show in logs and messages.

A leaf module (standard library only), so every store can use it without importing the URL
opener that imports the stores.
"""

from __future__ import annotations

import re
from urllib.parse import unquote

__all__ = ["mask_url", "scrub", "split_credentials"]

_KEYWORD_PASSWORD = re.compile(r"(?i)(\bpassword\s*=\s*)('(?:[^'\\]|\\.)*'|[^\s&]*)")


def split_credentials(url: str) -> tuple[str, str, str | None, str] | None:
    """Split ``scheme://user:password@rest`` the cautious way: the credentials run up to the
    *last* ``@``, so a password holding an unencoded ``/ # ? @`` is still found whole.
    Returns (scheme, user, password or None, rest), or None without credentials."""
    scheme, sep, rest = url.partition("://")
    if not sep or "@" not in rest:
        return None
    userinfo, _, hostinfo = rest.rpartition("@")
    user, colon, password = userinfo.partition(":")
    return scheme, user, password if colon else None, hostinfo


def mask_url(url: str) -> str:
    """``url`` with any password replaced by ``***`` (safe for logs and error messages).

    Masks the URL's password (even one with unencoded ``/ # ? @``) and any ``password=``
    parameter, in URLs and in libpq ``key=value`` strings alike.
    """
    if not isinstance(url, str):
        return "<not a URL>"
    parts = split_credentials(url)
    if parts is not None and parts[2] is not None:
        scheme, user, _, hostinfo = parts
        url = f"{scheme}://{user}:***@{hostinfo}"
    return _KEYWORD_PASSWORD.sub(lambda m: m.group(1) + "***", url)


def scrub(text: str, url: str) -> str:
    """``text`` (a driver's error, a log line) with ``url``'s password removed wherever it
    appears: raw, percent-decoded, or as the whole URL."""
    text = text.replace(url, mask_url(url))
    parts = split_credentials(url)
    secrets = set()
    if parts is not None and parts[2]:
        secrets |= {parts[2], unquote(parts[2])}
    for match in _KEYWORD_PASSWORD.finditer(url):
        value = match.group(2).strip("'")
        if value:
            secrets |= {value, unquote(value)}
    for secret in sorted(secrets, key=len, reverse=True):
        text = text.replace(secret, "***")
    return text
