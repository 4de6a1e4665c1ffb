"""A real server-sent events client for the tests (WHATWG HTML §9.2 parsing, http.client)."""

from __future__ import annotations

import http.client
import json
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit


@dataclass
class Event:
    """One dispatched event: its name, data (JSON-decoded when it is JSON) and id."""

    name: str
    raw: str
    id: str | None = None

    @property
    def data(self) -> Any:
        try:
            return json.loads(self.raw)
        except ValueError:
            return self.raw


@dataclass
class EventStream:
    """GET ``url`` and read its events as they come; ``close()`` hangs up."""

    url: str
    headers: dict[str, str] = field(default_factory=dict)
    timeout: float = 10.0

    def __post_init__(self) -> None:
        parts = urlsplit(self.url)
        self.conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=self.timeout)
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        self.conn.request("GET", path, headers={"Accept": "text/event-stream", **self.headers})
        self.response = self.conn.getresponse()
        self.status = self.response.status
        self.events: list[Event] = []
        self.comments = 0
        self.retry: int | None = None
        self.ended = False

    def _line(self, deadline: float) -> str | None:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError
        sock = self.response.fp.raw._sock  # type: ignore[union-attr]
        sock.settimeout(remaining)
        # Through the response, which undoes chunked framing: the raw socket file would hand
        # chunk sizes over as lines, and see the end of a finished stream only when the
        # server closes the kept-alive connection (gunicorn: its keepalive, 10 s later).
        raw = self.response.readline()
        if not raw:
            self.ended = True
            return None
        return raw.decode("utf-8").rstrip("\r\n")

    def next(self, timeout: float = 10.0) -> Event | None:
        """The next event, None when the server ended the stream; TimeoutError if none came."""
        deadline = time.monotonic() + timeout
        name, data, event_id = "message", [], None
        while True:
            line = self._line(deadline)
            if line is None:
                return None
            if line == "":
                if data:
                    event = Event(name, "\n".join(data), event_id)
                    self.events.append(event)
                    return event
                name, data = "message", []
                continue
            if line.startswith(":"):
                self.comments += 1
                continue
            key, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            if key == "event":
                name = value
            elif key == "data":
                data.append(value)
            elif key == "id":
                event_id = value
            elif key == "retry" and value.isdigit():
                self.retry = int(value)

    def wait_for(self, name: str, timeout: float = 10.0, **match: Any) -> Event:
        """Read until an event called ``name`` whose data has these field values arrives."""
        deadline = time.monotonic() + timeout
        while True:
            event = self.next(max(0.001, deadline - time.monotonic()))
            if event is None:
                raise AssertionError(f"the stream ended before a {name} event {match}")
            data = event.data
            if event.name == name and all(
                isinstance(data, dict) and data.get(k) == v for k, v in match.items()
            ):
                return event

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> EventStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
