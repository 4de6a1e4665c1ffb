"""The one exception base of the SMTP core: every error carries a code and words for a person."""

from __future__ import annotations


class PlaygroundError(Exception):
    """Base of every error the SMTP core raises.

    ``code`` is a short stable identifier (``"refused"``, ``"timeout"``, ...) that clients
    and tests can match on; ``message`` is the sentence shown to the user.
    """

    code = "error"

    def __init__(self, message: str, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code

    def __str__(self) -> str:
        return self.message


class ConnectError(PlaygroundError):
    """The connection to the target could not be opened."""

    code = "connect"


class ProtocolError(PlaygroundError):
    """The server broke the SMTP grammar or a limit we hold it to."""

    code = "protocol"


class LineError(PlaygroundError):
    """A line the user wants to send is not acceptable on the wire."""

    code = "bad_line"


class SessionClosed(PlaygroundError):
    """The session is closed; nothing more can be sent."""

    code = "closed"


class LimitReached(PlaygroundError):
    """A configured limit refused something (the web layer's limits derive from this)."""

    code = "limit"
