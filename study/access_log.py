"""Trainee links are credentials: logs show ``/t/<redacted>`` instead (DESIGN §9).

gunicorn's access-log line holds the request path and the Referer, and with
``strict-origin-when-cross-origin`` a trainee's next page sends the previous one's full address
as the Referer. ``gunicorn.conf.py`` installs :class:`RedactingLogger`; the app's own error log
uses :func:`redact_tokens` for the path of a request that failed.
"""

from __future__ import annotations

import re
from typing import Any

from gunicorn.glogging import Logger

# /t/<token> at the start of a path, after a space or quote (a request line), or after the
# host of an absolute address (a Referer).
_TRAINEE_LINK = re.compile(r'(^|[\s"]|//[^/\s"]*)/t/[^/?#\s"]+')


def redact_tokens(text: str) -> str:
    """``text`` with every trainee token in a ``/t/<token>`` path replaced by ``<redacted>``."""
    if "/t/" not in text:  # most fields of a log line: skip the regular expression
        return text
    return _TRAINEE_LINK.sub(lambda link: link.group(1) + "/t/<redacted>", text)


class RedactingLogger(Logger):
    """gunicorn's logger, with trainee tokens redacted from every field of the access log."""

    def atoms(self, resp: Any, req: Any, environ: Any, request_time: Any) -> dict[str, Any]:
        atoms: dict[str, Any] = super().atoms(resp, req, environ, request_time)
        return {key: redact_tokens(value) if isinstance(value, str) else value
                for key, value in atoms.items()}
