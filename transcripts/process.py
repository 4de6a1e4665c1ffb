"""Which process writes a live transcript, and whether that process still exists."""

from __future__ import annotations

import os
import secrets
import socket

_tag = secrets.token_hex(8)


def _new_tag() -> None:
    # A forked worker (gunicorn) is a different writer from its parent.
    global _tag
    _tag = secrets.token_hex(8)


os.register_at_fork(after_in_child=_new_tag)


def identity() -> str:
    """hostname:pid:random tag of this process; the tag tells a reused pid apart."""
    return f"{socket.gethostname()}:{os.getpid()}:{_tag}"


def local_process_is_alive(process: str) -> bool:
    """Whether the writer named by ``identity()`` may still run, as far as this host can tell.

    Another host's process, or another running process on this host, is assumed alive (its
    tag cannot be read from here); a pid that does not run, or our own pid with another tag
    (the pid was reused after a restart), is gone.
    """
    host, _, rest = process.partition(":")
    pid_text, _, tag = rest.partition(":")
    if host != socket.gethostname() or not pid_text.isdigit():
        return True
    pid = int(pid_text)
    if pid == os.getpid():
        return tag == _tag
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # it runs, as another user
    return True
