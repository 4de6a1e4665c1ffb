"""The Captured page's event streams in the production layout (tests/test_production.py):
gunicorn's gevent workers and sandbox_main.py in its own process, no Redis between them. Many
open streams hold no worker (each is a greenlet waiting), the API still answers beside them,
and a session an smtplib client sends shows up on them, started and ended, polled from the
shared store (web/live/captured_poll.py)."""

from __future__ import annotations

import http.client
import json
import smtplib
from contextlib import ExitStack

import pytest

from tests import test_production
from tests.sse import EventStream
from tests.test_captured_api import message

pytestmark = pytest.mark.slow
deployment = test_production.deployment  # the module-scoped fixture: one deployment here too
STREAMS = 40  # more than gunicorn's threads would allow (1 per worker): greenlets, not threads


def test_many_streams_under_gevent_and_a_session_on_them(
    deployment: test_production.Deployment,
) -> None:
    base = f"http://127.0.0.1:{deployment.port}"
    with ExitStack() as stack:
        streams = [
            stack.enter_context(EventStream(f"{base}/api/captured/events")) for _ in range(STREAMS)
        ]
        for stream in streams:
            assert stream.status == 200
            stream.wait_for("snapshot")
        conn = http.client.HTTPConnection("127.0.0.1", deployment.port, timeout=10)
        conn.request("GET", "/api/captured?limit=1")
        answer = conn.getresponse()
        assert answer.status == 200 and "sessions" in json.loads(answer.read())
        conn.close()
        with smtplib.SMTP("127.0.0.1", deployment.sandbox_port, "gevent.example") as smtp:
            smtp.sendmail("alice@client.example", ["bob@sandbox.test"], message("gevent"))
        for stream in (streams[0], streams[-1]):
            while True:
                summary = stream.wait_for("ended", 10).data["summary"]
                if summary["ehlo"] == "gevent.example":
                    break
            assert summary["outcome"] == "delivered" and len(summary["messages"]) == 1
        with EventStream(f"{base}/api/captured/{summary['id']}/events") as one:
            entries = [e for e in iter(lambda: one.next(10), None) if e.name == "entry"]
            assert len(entries) == summary["entry_count"]
            assert one.events[-1].name == "ended"
