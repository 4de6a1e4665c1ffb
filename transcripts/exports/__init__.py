"""Exports of a transcript: export(transcript, fmt) -> (bytes, mimetype, filename)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from transcripts.errors import ExportError
from transcripts.exports import htmlpage, jsonfmt, markdown, pyscript, swaks, text
from transcripts.exports._common import Explain, filename
from transcripts.model import Transcript

Renderer = Callable[[Transcript, "Explain | None"], bytes]
Streamer = Callable[[Transcript, "Explain | None"], Iterator[bytes]]

# format: (renderer, mimetype, file extension)
FORMATS: dict[str, tuple[Renderer, str, str]] = {
    "json": (jsonfmt.render, "application/json", "json"),
    "md": (markdown.render, "text/markdown; charset=utf-8", "md"),
    "html": (htmlpage.render, "text/html; charset=utf-8", "html"),
    "txt": (text.render_txt, "text/plain; charset=utf-8", "txt"),
    "cast": (text.render_cast, "application/x-asciicast", "cast"),
    "swaks": (swaks.render, "text/x-shellscript; charset=utf-8", "sh"),
    "python": (pyscript.render, "text/x-python; charset=utf-8", "py"),
}


# Formats written as they are made (a long transcript's export is never held whole); the
# others are small (swaks, python: a command and a script) or need the whole first (cast's
# header holds the widest line) and leave as one piece.
STREAMS: dict[str, Streamer] = {
    "json": jsonfmt.stream,
    "md": markdown.stream,
    "html": htmlpage.stream,
    "txt": text.stream_txt,
}


def export_stream(
    transcript: Transcript, fmt: str, explain: Explain | None = None
) -> tuple[Iterator[bytes], str, str]:
    """``export``, as pieces whose concatenation is exactly its bytes."""
    if fmt not in FORMATS:
        raise ExportError(f"no export format {fmt!r}; there are {', '.join(FORMATS)}")
    render, mimetype, ext = FORMATS[fmt]
    streamer = STREAMS.get(fmt)
    pieces = streamer(transcript, explain) if streamer else iter([render(transcript, explain)])
    return pieces, mimetype, filename(transcript, ext)


def export(
    transcript: Transcript, fmt: str, explain: Explain | None = None
) -> tuple[bytes, str, str]:
    """Render ``transcript`` as ``fmt``; ``explain`` gives each entry's summary (md, html)."""
    if fmt not in FORMATS:
        raise ExportError(f"no export format {fmt!r}; there are {', '.join(FORMATS)}")
    render, mimetype, ext = FORMATS[fmt]
    return render(transcript, explain), mimetype, filename(transcript, ext)


__all__ = ["FORMATS", "STREAMS", "Explain", "export", "export_stream"]
