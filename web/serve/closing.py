"""Responses closed as soon as they are sent, under servers that may skip ``close()``.

PEP 3333 has the server call the response's ``close()`` when it is done. Werkzeug's server
(``python app.py``, and the tests' servers) calls it only after draining what the client may
still send; when that read fails (a browser that resets the connection once it has the page,
as Chromium does when it navigates on), ``close()`` is skipped and the file of a static
response stays open until the garbage collector finds it, with a ``ResourceWarning``. Here a
response closes itself once its last chunk is taken, and at the latest when it is dropped.

gunicorn calls ``close()`` itself and sends files with ``sendfile`` when the response is its
own ``wsgi.file_wrapper``: a response there is passed through untouched.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment


class ClosedWhenSent:
    """An iterable response that closes the wrapped one when it is exhausted or dropped."""

    __slots__ = ("_inner", "_chunks")

    def __init__(self, inner: Iterable[bytes]) -> None:
        self._inner: Iterable[bytes] | None = inner
        self._chunks: Iterator[bytes] = iter(inner)

    def __iter__(self) -> Iterator[bytes]:
        return self

    def __next__(self) -> bytes:
        try:
            return next(self._chunks)
        except StopIteration:
            self.close()
            raise

    def close(self) -> None:
        inner, self._inner = self._inner, None  # once, however often it is called
        close = getattr(inner, "close", None)
        if close is not None:
            close()

    def __del__(self) -> None:
        self.close()


def closing_responses(app: WSGIApplication) -> WSGIApplication:
    """``app`` with every response closed when sent (see the module's docstring)."""

    def wrapped(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        response = app(environ, start_response)
        if "wsgi.file_wrapper" in environ:  # gunicorn: it closes, and may use sendfile
            return response
        return ClosedWhenSent(response)

    return wrapped
