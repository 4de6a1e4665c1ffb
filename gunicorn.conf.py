"""gunicorn settings for the playground: ``gunicorn -c gunicorn.conf.py wsgi:app``.

Worker class chosen by measurement (bench/run.py, docs/production.md): gevent. Every open
console holds a WebSocket and an SMTP connection for minutes; under gevent each costs a few
greenlets instead of three OS threads, and a worker is never out of threads. Every value can
be overridden with the environment variable beside it or on gunicorn's command line.
"""

import os


def _env(name: str, default: str) -> str:
    return os.environ.get(name) or default


bind = [_env("PLAYGROUND_BIND", "127.0.0.1:8000")]
worker_class = _env("PLAYGROUND_WORKER_CLASS", "gevent")
gevent_worker = worker_class == "gevent"
if gevent_worker:
    # gevent's worker plus a cap on open connections per client address
    # (PLAYGROUND_MAX_CONNECTIONS_PER_ADDRESS, default 256 per worker).
    worker_class = "web.serve.gworker.GuardedGeventWorker"
# One gevent worker serves a class (1,000 open consoles, ~2,000 round trips/s on one core)
# in ~145 MB; each further worker adds ~70 MB at rest and a core's worth of throughput.
workers = int(_env("PLAYGROUND_WORKERS", "1"))
# gevent: open connections (consoles) per worker. gthread: the pool size caps open consoles,
# because a WebSocket keeps its thread for the whole session.
worker_connections = int(_env("PLAYGROUND_WORKER_CONNECTIONS", "1000"))
threads = int(_env("PLAYGROUND_THREADS", "1" if gevent_worker else "200"))
# A WebSocket request never "finishes"; the heartbeat still proves the worker is alive.
timeout = int(_env("PLAYGROUND_WORKER_TIMEOUT", "60"))
graceful_timeout = int(_env("PLAYGROUND_GRACEFUL_TIMEOUT", "30"))
# The gevent worker reads each request line and headers (a WebSocket handshake too) under a
# timeout of `keepalive` seconds in total, and waits as long for a kept-alive connection's next
# request: a slow client is closed after PLAYGROUND_HEADER_TIMEOUT seconds. Never 0, which
# would turn the timeout off.
keepalive = max(1, round(float(_env("PLAYGROUND_HEADER_TIMEOUT", "10"))))
# gevent must monkey-patch before the app imports socket/ssl/threading, which it does when it
# loads the app in each worker; preloading in the master would import them unpatched.
preload_app = False
accesslog = _env("PLAYGROUND_ACCESS_LOG", "-")
loglevel = _env("PLAYGROUND_LOG_LEVEL", "info")
# gunicornc's control socket: off unless a path is given, so that two instances on one host
# (a test run beside a real one) do not fight over the default path.
control_socket = os.environ.get("PLAYGROUND_CONTROL_SOCKET", "")
control_socket_disable = not control_socket
raw_env = ["PLAYGROUND_START_SANDBOX=" + _env("PLAYGROUND_START_SANDBOX", "0")]


def on_starting(server):  # type: ignore[no-untyped-def]
    """Refuse to serve beyond loopback without access control, as python app.py does."""
    from web.serve.bindguard import check_bind, host_of_bind

    for address in server.cfg.bind:
        check_bind(host_of_bind(address), _env("PLAYGROUND_AUTH", "none"))


def post_fork(server, worker):  # type: ignore[no-untyped-def]
    """Give large buffers back to the system once freed (glibc only; a no-op elsewhere).

    glibc raises its mmap threshold to the size of each large block freed, so after one big
    message (a 20 MB DATA arrives in frames of up to 1 MiB) every later buffer of that size
    comes from the heap, whose high-water mark the worker then keeps for good. A fixed
    threshold (M_MMAP_THRESHOLD, 128 KiB: glibc's own default) turns that off.
    """
    from web.serve.memory import enable_quiet_trim, fix_mmap_threshold

    fix_mmap_threshold()
    enable_quiet_trim()  # and freed memory back once its sockets stop ending
