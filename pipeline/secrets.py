"""Keep secrets out of logs, errors, reports and manifests.

Every secret reelpipe reads (API keys) is registered here with :func:`register_secret`; :func:`redact`
replaces each registered value in a string, and :func:`install_log_redaction` applies that to every log
record, so even a ``--debug`` log cannot leak a key.
"""

from __future__ import annotations

import logging
import os
import threading

__all__ = ["install_log_redaction", "read_secret_env", "redact", "register_secret"]

_lock = threading.Lock()
_secrets: set[str] = set()


def register_secret(value: str | None) -> None:
    """Remember ``value`` so that :func:`redact` hides it. Short values (under 6 chars) are ignored."""
    if value and len(value) >= 6:
        with _lock:
            _secrets.add(value)


def read_secret_env(name: str) -> str | None:
    """Read a secret from the environment variable ``name`` and register it for redaction."""
    value = os.environ.get(name)
    register_secret(value)
    return value


def redact(text: str) -> str:
    """Replace every registered secret in ``text`` with ``***``."""
    with _lock:
        secrets = sorted(_secrets, key=len, reverse=True)
    for s in secrets:
        if s in text:
            text = text.replace(s, "***")
    return text


class _RedactingFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a malformed log call: leave it to logging
            return True
        record.msg = redact(message)
        record.args = None
        return True


_installed = False


def install_log_redaction() -> None:
    """Attach the redacting filter to every handler of the root logger (idempotent)."""
    global _installed
    root = logging.getLogger()
    flt = _RedactingFilter()
    for handler in root.handlers:
        if not any(isinstance(f, _RedactingFilter) for f in handler.filters):
            handler.addFilter(flt)
    if not _installed:
        root.addFilter(flt)
        _installed = True
