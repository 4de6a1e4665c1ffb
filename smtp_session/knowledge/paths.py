"""The one parser of a MAIL FROM / RCPT TO argument: keyword, colon, path, parameters.

RFC 5321 §4.1.2: ``"FROM:" Reverse-path [SP Mail-parameters]`` and ``"TO:" Forward-path
[SP Rcpt-parameters]``, a path being ``"<" Mailbox ">"`` and each parameter
``esmtp-keyword ["=" esmtp-value]``. Nothing is refused here: the shape is recorded as found
(stray spaces, missing brackets, repeated parameters) so the checker can name each mistake,
the explainer can still explain, and the transaction can still follow the session.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

PATH_KEYWORDS = {"MAIL": "FROM", "RCPT": "TO"}
_PREFIX = re.compile(r"^(FROM|TO)(\s*)(:?)(\s*)(.*)$", re.IGNORECASE | re.DOTALL)


@dataclass(frozen=True)
class PathArgument:
    """A MAIL/RCPT argument taken apart, with every deviation from the grammar noted."""

    keyword: str | None  # "FROM" / "TO" as written, or None when missing
    colon: bool
    space_before_colon: bool
    space_after_colon: bool
    bracketed: bool  # the path was written inside < >
    path: str  # what stood for the path, brackets included ("<a@b>", "a@b", "<<a@b>")
    address: str | None  # the mailbox without the outer brackets; None without keyword/colon
    params: tuple[tuple[str, str | None], ...] = ()  # in order, repeats kept, names upper-cased

    @property
    def param_dict(self) -> dict[str, str | None]:
        """The parameters by name (a repeated one keeps its last value)."""
        return dict(self.params)


def parse_path(argument: str) -> PathArgument:
    """Take "FROM:<a@b> SIZE=100" (or "TO: a@b", "FROM <a@b>") apart."""
    m = _PREFIX.match(argument.strip())
    if not m:
        return PathArgument(None, ":" in argument, False, False, False, "", None)
    keyword, before, colon, after, rest = m.groups()
    if not colon:
        # "FROM <a@b>": the path is still there to explain, though the grammar wants a colon.
        rest = (before + after + rest).strip()
    path, params_text = _split(rest.strip())
    address = path[1:].split(">", 1)[0] if path.startswith("<") else (path or None)
    return PathArgument(
        keyword=keyword.upper(),
        colon=bool(colon),
        space_before_colon=bool(colon and before),
        space_after_colon=bool(colon and after),
        bracketed=path.startswith("<") and path.endswith(">"),
        path=path,
        address=address,
        params=parse_params(params_text),
    )


def _split(rest: str) -> tuple[str, str]:
    """Path first (to its closing ">" when it opens with "<"), parameters after."""
    if rest.startswith("<"):
        end = rest.rfind(">", 0, rest.find(" ") if " " in rest else len(rest))
        end = rest.find(">") if end < 0 else end
        if end < 0:
            return rest, ""
        return rest[: end + 1], rest[end + 1 :]
    words = rest.split(None, 1)
    return (words[0], words[1]) if len(words) > 1 else (rest, "")


def parse_params(text: str) -> tuple[tuple[str, str | None], ...]:
    """ "SIZE=100 SMTPUTF8" -> (("SIZE", "100"), ("SMTPUTF8", None)) (RFC 5321 §4.1.2)."""
    out = []
    for word in text.split():
        name, sep, value = word.partition("=")
        out.append((name.upper(), value if sep else None))
    return tuple(out)
