"""The SMTP reader under gevent (smtp_session/wire/watched.py), in a process gevent has patched.

gunicorn's gevent worker reads a plain session with a socket watcher and a greenlet only per
read step (a parked runner, reused); these run the session's own paths there, against the
hostile server, in a child
process (monkey-patching this test process would change every other test).
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

SCRIPT = textwrap.dedent(
    """
    from gevent import monkey

    monkey.patch_all()

    from smtp_session.wire.events import Closed, ReplyReceived
    from smtp_session.wire.session import Limits, SmtpSession
    from smtp_session.wire.watched import WatchedReader
    from tests.hostile_server import EventLog, HostileServer, send, stall

    def greeted(server, limits=None):  # a session to server, its greeting read
        events = EventLog()
        smtp = SmtpSession(events, limits)
        smtp.connect("127.0.0.1", server.port)
        events.wait_for(ReplyReceived)
        return smtp, events

    def idle_reader_has_no_greenlet_and_quit_ends_it():
        with HostileServer() as server:
            smtp, events = greeted(server)
            reader = smtp._reader
            assert isinstance(reader, WatchedReader), reader
            # The step that delivered the greeting ran on to its end before this greenlet
            # was woken (a notify does not switch): idle now, the reader holds no greenlet.
            assert reader._running is None and reader.is_alive()
            smtp.send_line("NOOP")
            events.wait_for(ReplyReceived, count=2)
            smtp.send_line("QUIT")
            assert events.wait_for(Closed).code == "server_closed"
            reader.join(2)
            assert not reader.is_alive() and smtp._sock.fileno() == -1

    def idle_timeout():
        with HostileServer() as server:
            smtp, events = greeted(server, Limits(idle_timeout=0.3))
            assert events.wait_for(Closed).code == "idle_timeout"

    def bare_cr_ends_a_reply_after_the_grace():
        with HostileServer(banner=[send(b"220 cr.test ESMTP\\r"), stall()]) as server:
            events = EventLog()
            smtp = SmtpSession(events, Limits(idle_timeout=2.0))
            smtp.connect("127.0.0.1", server.port)
            reply = events.wait_for(ReplyReceived).reply
            assert reply.code == 220 and reply.line_endings == "CR", reply
            smtp.close()

    def close_from_outside_while_idle():
        with HostileServer() as server:
            smtp, events = greeted(server)
            reader = smtp._reader
            smtp.close("test")
            assert not reader.is_alive() and smtp._sock.fileno() == -1
            assert sum(isinstance(e, Closed) for e in events.events) == 1

    def steps_reuse_parked_runners_that_hold_no_session():
        import gc
        import weakref

        from smtp_session.wire import watched

        with HostileServer() as server:
            smtp, events = greeted(server)
            created = []
            real = smtp._reader._new_greenlet
            smtp._reader._new_greenlet = lambda *a, **k: created.append(1) or real(*a, **k)
            for n in range(2, 52):  # 50 replies, one read step each
                smtp.send_line("NOOP")
                events.wait_for(ReplyReceived, count=n)
            assert len(created) <= 1, f"{len(created)} greenlets for 50 steps"
            smtp.send_line("QUIT")
            events.wait_for(Closed)
            smtp._reader.join(2)
            runners = watched._runners(smtp._reader._hub)
            parked = runners.parked
            assert parked and all(not g.dead for g in parked)
            # a runner that died while parked (a throw into it) is never handed out
            import greenlet as greenlet_module

            dead = greenlet_module.greenlet(lambda: None)
            dead.switch()
            assert dead.dead
            runners.parked.append(dead)
            fresh = runners.take(greenlet_module.greenlet)
            assert fresh is not dead
            assert dead not in runners.parked
            gone = weakref.ref(smtp._reader)
            del smtp, events
            gc.collect()
            assert gone() is None, "a parked runner kept the last session alive"

    def connecting_to_an_address_starts_no_thread():
        # gevent's create_connection asks its resolver even for '127.0.0.1', a trip to a
        # pool of OS threads that then stay; a session connects to the address it has.
        import os

        from gevent import get_hub

        threads = len(os.listdir("/proc/self/task"))
        with HostileServer() as server:
            for _ in range(5):
                smtp, events = greeted(server)
                smtp.send_line("QUIT")
                events.wait_for(Closed)
                smtp._reader.join(2)
        assert get_hub()._threadpool is None, "the resolver's thread pool was started"
        assert len(os.listdir("/proc/self/task")) == threads

    for check in (
        connecting_to_an_address_starts_no_thread,  # first: before anything starts the pool
        steps_reuse_parked_runners_that_hold_no_session,
        idle_reader_has_no_greenlet_and_quit_ends_it,
        idle_timeout,
        bare_cr_ends_a_reply_after_the_grace,
        close_from_outside_while_idle,
    ):
        check()
        print("ok", check.__name__, flush=True)
    """
)


def test_the_watched_reader_in_a_gevent_process() -> None:
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.count("ok ") == 6, done.stdout
