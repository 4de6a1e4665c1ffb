"""A live console session: browser frames in, SMTP lines out, events back as frames.

This is where the pumping lives; the WebSocket route (``web/views/ws.py``) is a plain receive loop
that hands each frame to :meth:`LiveSession.handle`. Replies arrive on the SMTP session's
reader thread and leave through :meth:`LiveSession.on_event`; a lock keeps the two threads'
frames whole on the socket.

Over 300 lines: the frame table, the lock that orders both threads' frames and the two hooks
every frame passes (the class's, then the lean encoder) belong to the one session they order.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from typing import Any

from smtp_session.errors import PlaygroundError
from smtp_session.guide.document import document_path
from smtp_session.guide.guide import Guide
from smtp_session.guide.lean import LeanEncoder
from smtp_session.guide.lessons import LessonProgress
from smtp_session.locks import rlock
from smtp_session.wire.events import CloseCode, Closed, MessageSent, Sent, SessionEvent
from smtp_session.wire.lines import check_lines
from smtp_session.wire.session import SmtpSession
from web.classroom.console import HANDLERS as CLASS_HANDLERS
from web.classroom.console import gone as class_gone
from web.live.admission import Admission
from web.live.connector import open_connection, plan_connect
from web.live.frames import FrameError, chunk_of, frame_mode, parse_frame
from web.live.limits import LimitError
from web.live.quota import FrameRate, Quota
from web.services import Services

log = logging.getLogger(__name__)

Frame = dict[str, Any]


class LiveSession:
    """One browser tab's session: at most one SMTP connection at a time."""

    def __init__(
        self,
        services: Services,
        send: Callable[[Frame], None],
        client: str,
        user: str | None = None,
        cork: Callable[[], AbstractContextManager[None]] = nullcontext,
    ) -> None:
        self.services = services
        self._send_raw = send
        # Frames sent while a line goes out leave in one write after it (wsserver.corked).
        self._cork = cork
        # One lock orders everything that leaves: the guide's state, the transcript's seq and the
        # frames on the socket change together, whichever thread (browser or SMTP reader) acts.
        self._lock = rlock()
        self.client = client
        self.user = user  # signed-in user (web/auth/access.py): owner and per-user limits
        self.smtp: SmtpSession | None = None
        self.recorder: Any = None
        self.guide: Guide | None = None
        self.lesson: Any = None
        # Where the learner is in the lesson: kept across connections, so a lesson that asks
        # for a second connection (plain, then implicit TLS) goes on from the step it reached.
        self.progress: LessonProgress | None = None
        self.quota: Quota | None = None
        self.admission: Admission | None = None
        self.frame_rate = FrameRate(
            services.config["FRAME_RATE"], 2 * services.config["FRAME_RATE"]
        )
        self._flood_warned = 0.0
        # Sent line number (the session's count) -> transcript seq, for lines owed a reply:
        # each reply frame names the line it answers (``answers``).
        self._seq_of: dict[int, int] = {}
        self._t0 = time.monotonic()
        # Lean frames (docs/protocol.md v2) unless a connect asks for "full": the encoder keeps
        # the state this browser has, so frames carry only what changed.
        self.encoder: LeanEncoder | None = LeanEncoder()
        # In a class (web/classroom/): a Member or Broadcaster that sees every frame sent.
        self.classroom: Any = None

    # -- frames from the browser ----------------------------------------------------------

    def handle(self, data: str | bytes) -> None:
        """Handle one WebSocket message; every problem becomes an error frame."""
        if not self.frame_rate.allow():
            self._flood()
            return
        try:
            frame = parse_frame(data, self.services.config["MAX_FRAME"], _KNOWN)
            _HANDLERS[frame["type"]](self, frame)
        except PlaygroundError as exc:
            self.error(exc.message, exc.code, limit=isinstance(exc, LimitError))

    def _on_connect(self, frame: Frame) -> None:
        if self.smtp is not None and not self.smtp.closed:
            raise FrameError("A session is already open; close it before connecting again.", "busy")
        plan = plan_connect(self.services, frame)
        lean = frame_mode(frame) == "lean"
        if self.classroom is not None:  # the trainer may restrict the class to one target
            self.classroom.check_connect(plan.target)
        self.admission = self.services.admission_for(self.client, self.user)
        self.admission.admit()
        self.quota = self.services.quota_for(plan.target)
        self._t0 = time.monotonic()
        self.recorder = self.services.recorder_for(plan.target, self.user)
        self.guide = self.services.guide_for(plan.target)
        self.guide.follow(self.progress)
        limits = self.services.limits()
        with self._lock:
            self.encoder = LeanEncoder() if lean else None
        lean_fields = {"frames": "lean", "knowledge": document_path()} if lean else {}
        self.send(
            {
                "type": "session",
                **lean_fields,
                "transcript": self.recorder.transcript_id,
                "edit_token": self.recorder.edit_token,
                "target": plan.target.public(),
                "accept_unverified": plan.accept_unverified,
                # The console counts down to these from the last line sent or received.
                "limits": {
                    "idle_timeout": limits.idle_timeout,
                    "max_duration": limits.max_duration,
                },
            }
        )
        if self.progress is not None:
            self.send(self.guide.lesson_frame([]))
        self.smtp = SmtpSession(self.on_event, limits)
        self.smtp.admit = self.quota.admit  # counted as the server will read each line
        self._seq_of.clear()
        try:
            open_connection(self.services, plan, self.smtp, self.emit)
        except PlaygroundError as exc:
            self.error(exc.message, exc.code)
            self.smtp.close(exc.message, CloseCode.CONNECT_FAILED)
            self._finish(f"could not connect: {exc.message}", exc.code)

    def emit(self, frame: Frame) -> None:
        """Record and send a frame the web layer made (MX lookups, attempts)."""
        with self._lock:
            self._publish(frame)
            if self.guide is not None:  # a lesson may wait for it ({"event": "mx"})
                self.guide.observe_lookup(frame)
                while self.guide.extra:
                    self._publish(self.guide.extra.pop(0))

    def _require_session(self) -> SmtpSession:
        if self.smtp is None:
            raise FrameError("Not connected: send a connect frame first.", "not_connected")
        return self.smtp

    def _on_line(self, frame: Frame) -> None:
        self._send_lines([frame["text"]], typed=True)

    def _on_lines(self, frame: Frame) -> None:
        self._send_lines(frame["lines"])

    def _send_lines(self, lines: list[str], typed: bool = False) -> None:
        smtp = self._require_session()
        check_lines(lines)  # refuse the whole batch before counting or queueing any of it
        if self.quota is not None:
            self.quota.charge_bytes(lines)
        # Queued and paced: each line leaves once the replies say how the server reads it.
        with self._cork():
            smtp.send_lines(lines, typed=typed)

    def _on_chunk(self, frame: Frame) -> None:
        """A BDAT chunk from the composer: the playground counts the octets (RFC 3030 §2)."""
        smtp = self._require_session()
        data, last = frame["data"], frame.get("last", False)
        if not isinstance(last, bool):
            raise FrameError(
                "The 'last' field of a 'chunk' frame must be true or false.", "bad_field"
            )
        chunk = chunk_of(data, last)
        if self.quota is not None:
            self.quota.charge_bytes([data])
        smtp.send_chunk(chunk)

    def _flood(self) -> None:
        now = time.monotonic()
        if now - self._flood_warned >= 1.0:  # one warning a second, not one per frame
            self._flood_warned = now
            rate = self.services.config["FRAME_RATE"]
            self.error(
                f"Too many frames: the limit is {rate:g} a second (PLAYGROUND_FRAME_RATE); "
                "frames over it are dropped.",
                "frame_flood",
                limit=True,
            )

    def _on_close(self, frame: Frame) -> None:
        if self.smtp is not None:
            self.smtp.close("closed by the user", CloseCode.CLIENT_CLOSED)

    def _on_lesson(self, frame: Frame) -> None:
        self.start_lesson(frame.get("lesson"))

    def start_lesson(self, lesson_id: Any) -> None:
        """Follow a lesson from its first step (a lesson frame, or the trainer pushing one)."""
        self.lesson = self.services.lesson(lesson_id)
        guide = self.guide or self.services.guide_for(None)
        with self._lock:
            out = guide.start_lesson(self.lesson)
            self.progress = guide.lesson
            if self.guide is not None and self.smtp is not None and not self.smtp.closed:
                self._publish(out)
            else:
                self._send_now(out)

    def _on_state(self, frame: Frame) -> None:
        """The whole transaction state, on request (lean frames carry only its changes)."""
        with self._lock:
            tx = self.guide.tx.to_dict() if self.guide is not None else None
            whole = self.encoder.whole_state if self.encoder and tx else None
            self._send_raw_safe(whole(tx) if whole and tx else {"type": "state", "state": tx})

    def _on_ping(self, frame: Frame) -> None:
        self.send({"type": "pong"})

    def _on_note(self, frame: Frame) -> None:
        if self.recorder is None:
            raise FrameError("There is no transcript to annotate yet.", "not_connected")
        note = self.recorder.add_note(frame["seq"], frame["text"])
        self.send({"type": "note", **note})

    # -- events from the SMTP session -----------------------------------------------------

    def on_event(self, event: SessionEvent) -> None:
        """Turn a session event into a recorded entry and a frame (any thread)."""
        if isinstance(event, Closed) and self.admission is not None:
            # Free the slot before the browser hears of the close, so it can reconnect at once.
            self.admission.release()
        with self._lock:
            assert self.guide is not None  # set in _on_connect before the session exists
            frame = self.guide.frame_for(event)
            if frame["type"] == "reply":
                answers = frame.get("answers")
                frame["answers"] = None if answers is None else self._seq_of.pop(answers, None)
            sent_n = event.n if isinstance(event, Sent | MessageSent) else None
            self._publish(frame)
            # A reply will name the line it answers (a chunk's octets are owed none).
            if sent_n is not None and not frame.get("chunk"):
                last = len(frame.get("lines") or [None]) - 1
                if "seq" in frame:
                    self._seq_of[sent_n + last] = frame["seq"] + last
            while self.guide is not None and self.guide.extra:
                self._publish(self.guide.extra.pop(0))
        if isinstance(event, Closed):
            self._finish(event.reason, event.code)

    def _publish(self, frame: Frame) -> None:
        """Record then send (the caller holds the lock)."""
        self._record(frame)
        self._send_now(frame)

    def _record(self, frame: Frame) -> None:
        frame["t"] = int((time.monotonic() - self._t0) * 1000)
        if self.recorder is not None:
            seq = self.recorder.record(frame)
            if seq is not None:
                frame["seq"] = seq

    def _finish(self, reason: str, code: str) -> None:
        if self.admission is not None:
            self.admission.release()
        if self.recorder is not None:
            self.recorder.finish(reason, code)

    # -- frames to the browser ------------------------------------------------------------

    def send(self, frame: Frame) -> None:
        """Send a frame that is not recorded; a browser that has gone away is not an error."""
        with self._lock:
            self._send_now(frame)

    def _send_now(self, frame: Frame) -> None:
        """Send one frame as this browser asked for them (lean or full); the full frame,
        which the transcript recorded, is left as it was. The class hook sees the full frame
        first (watchers and followers get full frames, docs/classroom.md)."""
        if self.classroom is not None:
            try:  # memory only: the class's dashboard and watchers never hold up the session
                self.classroom.on_frame(frame)
            except Exception:
                log.exception("class hook failed")
        if self.encoder is not None:
            frame = self.encoder.encode(frame)
        self._send_raw_safe(frame)

    def _send_raw_safe(self, frame: Frame) -> None:
        try:
            self._send_raw(frame)
        except Exception as exc:  # the socket is gone; the receive loop will notice
            log.debug("frame not delivered: %s", exc)

    def error(self, message: str, code: str = "error", limit: bool = False) -> None:
        """Tell the browser what went wrong, in words (and keep it in the transcript)."""
        frame: Frame = {"type": "error", "message": message, "code": code}
        if limit:
            frame["limit"] = True
        with self._lock:
            self._publish(frame)

    def shutdown(self, reason: str) -> None:
        """The browser went away: close the SMTP connection now."""
        if self.smtp is not None:
            self.smtp.close(reason, CloseCode.BROWSER_GONE)
        class_gone(self)
        if self.admission is not None:
            self.admission.release()


# Frame type -> handler(session, frame): one table for every console, not a dict of bound
# methods per console (~1.2 KB each of 1,000 idle consoles).
_HANDLERS: dict[str, Callable[[LiveSession, Frame], None]] = {
    "connect": LiveSession._on_connect,
    "line": LiveSession._on_line,
    "lines": LiveSession._on_lines,
    "chunk": LiveSession._on_chunk,
    "close": LiveSession._on_close,
    "note": LiveSession._on_note,
    "lesson": LiveSession._on_lesson,
    "ping": LiveSession._on_ping,
    "state": LiveSession._on_state,
    **CLASS_HANDLERS,  # class_join, class_leave, class_broadcast
}
_KNOWN = frozenset(_HANDLERS)  # the frame types parse_frame accepts
