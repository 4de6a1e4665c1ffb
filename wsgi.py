"""Production entry point: ``gunicorn -c gunicorn.conf.py wsgi:app`` (see docs/production.md).

The sandbox runs as its own process (``sandbox_main.py``); each web worker starting one would
mean N sandboxes fighting over one port, so it is off here unless the environment says
otherwise. Nothing else is imported before ``create_app`` so that gunicorn's gevent worker has
monkey-patched the standard library before the app's modules import it.
"""

import os

os.environ.setdefault("PLAYGROUND_START_SANDBOX", "0")

from app import create_app, tune_gc  # noqa: E402  (the default above must be in place first)
from smtp_session.sandbox.scenario_format import ScenarioError, refuse_to_start  # noqa: E402

try:
    app = create_app()
except ScenarioError as exc:  # a trainer's scenario file: the list of problems, not a traceback
    refuse_to_start(exc)
tune_gc()
