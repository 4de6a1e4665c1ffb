"""gunicorn's gevent worker with a per-address connection cap (gunicorn.conf.py's default).

The header deadline needs no code: the gevent worker reads each request's line and headers
under ``gevent.Timeout(keepalive)``, in total, and gunicorn.conf.py sets ``keepalive`` to
PLAYGROUND_HEADER_TIMEOUT. Imports only gunicorn and the standard library: gunicorn loads the
worker class in the master, before gevent patches anything.
"""

from __future__ import annotations

import os
from collections import Counter
from typing import Any

from gunicorn.workers.ggevent import GeventWorker

from web.serve.connguard import DEFAULT_MAX_PER_ADDRESS, refusal


class GuardedGeventWorker(GeventWorker):
    """At most PLAYGROUND_MAX_CONNECTIONS_PER_ADDRESS open connections per client address."""

    def init_process(self) -> None:
        self.open_by_address: Counter[str] = Counter()
        raw = os.environ.get("PLAYGROUND_MAX_CONNECTIONS_PER_ADDRESS") or ""
        self.max_per_address = int(raw) if raw else DEFAULT_MAX_PER_ADDRESS
        super().init_process()

    def handle(self, listener: Any, client: Any, addr: Any) -> None:
        address = str(addr[0]) if isinstance(addr, tuple) else ""
        if self.open_by_address[address] >= self.max_per_address:
            self.log.warning("refused a connection from %s: %d open", address, self.max_per_address)
            try:
                client.sendall(refusal(self.max_per_address))
            except OSError:
                pass
            client.close()
            return
        self.open_by_address[address] += 1  # greenlets: no lock is needed between these lines
        try:
            super().handle(listener, client, addr)
        finally:
            self.open_by_address[address] -= 1
            if self.open_by_address[address] <= 0:
                del self.open_by_address[address]
