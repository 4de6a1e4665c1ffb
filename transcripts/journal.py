"""The crash journal of a process's queued transcript rows, and recovery from a dead one's.

Each writing process appends every row it queues (``transcripts.writer``) to its own journal
before the frame leaves for the browser: one ``write`` to a file opened ``O_APPEND``, which
the kernel keeps if the process is killed the next instant. The journal is a series of
segments, ``<process>~<n>.journal``; a full segment is retired and deleted once everything
written to it is committed, so the journal stays small under steady traffic.

The process holds an exclusive ``flock`` on each segment it owns. At start-up
:func:`recover` takes any segment whose lock it can get, i.e. whose owner is gone (killed,
or a container that no longer exists, whatever its host name or pid), stores the rows that
are missing from the database, and deletes it. A segment it cannot read or store is renamed
``*.bad`` and left for a person to look at: a damaged journal never stops the app starting.

Every record starts with a newline, so a record cut short (the process killed mid-write, a
full disk) never swallows the next one; recovery skips it.
"""

from __future__ import annotations

import fcntl
import itertools
import json
import logging
import os
from pathlib import Path
from typing import Any

from transcripts import process
from transcripts.rows import Pending, journal_payload

log = logging.getLogger(__name__)

SEGMENT_BYTES = 1 << 20  # a segment is retired at this size
SUFFIX = ".journal"
_MAX_SEQ = 2**31 - 1
_HEADS = 4096  # record starts kept (one per transcript written lately)


class Segment:
    """One journal file, open for appending and locked by this process."""

    def __init__(self, path: Path) -> None:
        self.path = path
        # Created and locked under a name recovery does not look at, then renamed: another
        # process starting up never sees this segment unlocked.
        partial = path.with_suffix(".new")
        self.fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            os.rename(partial, path)
        except OSError:
            os.close(self.fd)
            partial.unlink(missing_ok=True)
            raise
        self.size = 0

    def write(self, data: bytes) -> None:
        written = os.write(self.fd, data)  # one write() for all but huge records
        if written < len(data):  # a short write is finished here
            view = memoryview(data)[written:]
            while view:
                view = view[os.write(self.fd, view) :]
        self.size += len(data)

    def delete(self) -> None:
        """Unlink, then close (which drops the lock): no one can take it half-deleted."""
        self.path.unlink(missing_ok=True)
        os.close(self.fd)

    def close(self) -> None:
        os.close(self.fd)


class Journal:
    """This process's journal: the segment written now and those waiting for their commits."""

    def __init__(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.folder = folder
        self._names = (f"{process.identity()}~{n}{SUFFIX}" for n in itertools.count())
        self.current = Segment(folder / next(self._names))
        self.retired: list[tuple[Segment, int]] = []  # (segment, writes queued before it closed)
        self._heads: dict[str, str] = {}

    def write(self, item: Pending, queued: int) -> None:
        """Append one write's rows (``queued``: the writer's count once this one is queued)."""
        payloads = ",".join(map(journal_payload, item.rows))
        record = f"{self._head(item.transcript_id)}{payloads}]}}"
        try:
            self.current.write(record.encode("utf-8", "surrogatepass"))
        except OSError as exc:  # a full disk: the commit still comes; only crash safety suffers
            log.error("transcript journal %s: write failed (%s)", self.current.path, exc)
            self._rotate(queued)
            return
        if self.current.size >= SEGMENT_BYTES:
            self._rotate(queued)

    def _head(self, transcript_id: str) -> str:
        """A record's start for this transcript, made once per transcript (a round trip
        journals two records)."""
        head = self._heads.get(transcript_id)
        if head is None:
            if len(self._heads) >= _HEADS:
                self._heads.clear()
            head = self._heads[transcript_id] = f'\n{{"tid":{json.dumps(transcript_id)},"entries":['
        return head

    def _rotate(self, queued: int) -> None:
        try:
            fresh = Segment(self.folder / next(self._names))
        except OSError as exc:
            log.error("transcript journal: cannot open a new segment (%s)", exc)
            return
        self.retired.append((self.current, queued))
        self.current = fresh

    def committed(self, done: int) -> None:
        """Delete the retired segments whose writes are all committed (``done`` of them)."""
        keep = []
        for segment, mark in self.retired:
            if done >= mark:
                segment.delete()
            else:
                keep.append((segment, mark))
        self.retired = keep

    def delete(self) -> None:
        """Everything is committed: remove every segment."""
        for segment, _ in self.retired:
            segment.delete()
        self.retired = []
        self.current.delete()

    def abandon(self) -> None:
        """A forked child's copies of its parent's descriptors: close them, keep the files
        (they are the parent's, locked by it as long as it lives)."""
        for segment, _ in self.retired:
            segment.close()
        self.current.close()


def recover(store: Any, folder: Path) -> dict[str, int]:
    """Store what dead processes journaled and may not have committed; remove their journals.

    Returns {transcript id: entries restored}. A segment whose lock is held belongs to a
    running process and is left alone.
    """
    restored: dict[str, int] = {}
    if not folder.is_dir():
        return restored
    for path in sorted(folder.glob(f"*{SUFFIX}")):
        try:
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            continue
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                continue  # its process still runs
            if _recover_segment(store, path, os.read(fd, path.stat().st_size + 1), restored):
                path.unlink(missing_ok=True)
            else:
                path.rename(path.with_suffix(".bad"))
        except OSError as exc:
            log.error("transcript journal %s: not recovered (%s)", path, exc)
        finally:
            os.close(fd)
    return restored


def _recover_segment(store: Any, path: Path, data: bytes, restored: dict[str, int]) -> bool:
    ok = True
    for tid, payloads in read_records(data).items():
        try:
            count = store.restore(tid, payloads)
        except Exception as exc:  # the database refused them: keep the file for a person
            log.error("transcript %s: journaled entries not restored from %s: %s", tid, path, exc)
            ok = False
            continue
        if count:
            restored[tid] = restored.get(tid, 0) + count
            log.warning("transcript %s: %d entries restored from %s", tid, count, path.name)
    return ok


def read_records(data: bytes) -> dict[str, dict[int, str]]:
    """Row payloads by transcript and seq; damaged or cut-short records are skipped."""
    found: dict[str, dict[int, str]] = {}
    for raw in data.split(b"\n"):
        if not raw.strip():
            continue
        try:
            record = json.loads(raw.decode("utf-8", "surrogatepass"))
            tid, batch = record["tid"], record["entries"]
            if not isinstance(tid, str) or not 0 < len(tid) <= 64 or not isinstance(batch, list):
                raise TypeError("not a journal record")
        except (ValueError, KeyError, TypeError):
            log.warning("transcript journal: skipped a damaged record (%d bytes)", len(raw))
            continue
        for payload in batch:
            seq = payload.get("seq") if isinstance(payload, dict) else None
            if type(seq) is int and 0 <= seq <= _MAX_SEQ:
                found.setdefault(tid, {})[seq] = json.dumps(payload, ensure_ascii=False)
    return found
