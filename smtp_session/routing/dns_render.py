"""A ``dig mx`` style text rendering of an MX lookup, for the console and transcripts."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

# The shapes this renderer reads, so that it needs nothing from mx.py (whose MxLookup renders
# itself with it): smtp_session.routing.mx's MxRecord, Candidate and MxLookup have these fields.


class MxRecord(Protocol):
    @property
    def preference(self) -> int: ...
    @property
    def host(self) -> str: ...
    @property
    def ttl(self) -> int: ...


class Candidate(Protocol):
    @property
    def host(self) -> str: ...
    @property
    def addresses(self) -> Sequence[str]: ...
    @property
    def ttl(self) -> int | None: ...
    @property
    def error(self) -> str | None: ...


class MxLookup(Protocol):
    @property
    def domain(self) -> str: ...
    @property
    def implicit(self) -> bool: ...
    @property
    def records(self) -> Sequence[MxRecord]: ...
    @property
    def candidates(self) -> Sequence[Candidate]: ...
    @property
    def server(self) -> str | None: ...


NAME_WIDTH = 24
TTL_WIDTH = 8
TYPE_WIDTH = 5


def _row(name: str, ttl: int | None, rdtype: str, data: str) -> str:
    ttl_text = "" if ttl is None else str(ttl)
    return f"{name + '.':<{NAME_WIDTH}} {ttl_text:<{TTL_WIDTH}} IN  {rdtype:<{TYPE_WIDTH}} {data}"


def _answer_lines(lookup: MxLookup) -> list[str]:
    if lookup.implicit:
        return [
            f"; no MX records: {lookup.domain} itself is the implicit MX, preference 0",
            "; (RFC 5321 §5.1), reached at its own A/AAAA addresses",
        ]
    lines = [";; ANSWER SECTION:"]
    for record in lookup.records:
        host = record.host if record.host == "." else record.host + "."
        lines.append(_row(lookup.domain, record.ttl, "MX", f"{record.preference} {host}"))
    return lines


def _address_lines(candidate: Candidate) -> list[str]:
    if candidate.error:
        return [f"; {candidate.error}"]  # every MX error message names the host
    return [
        _row(candidate.host, candidate.ttl, "AAAA" if ":" in address else "A", address)
        for address in candidate.addresses
    ]


def render_dig(lookup: MxLookup) -> str:
    """``dig mx DOMAIN`` style text: question, answer, addresses of the hosts, server."""
    count = len(lookup.records)
    lines = [
        f"; <<>> MX lookup for {lookup.domain} <<>>",
        f";; status: NOERROR, ANSWER: {count}",
        "",
        ";; QUESTION SECTION:",
        f";{lookup.domain + '.':<{NAME_WIDTH + TTL_WIDTH + 1}} IN  MX",
        "",
        *_answer_lines(lookup),
        "",
        ";; ADDITIONAL SECTION:",
    ]
    for candidate in lookup.candidates:
        lines.extend(_address_lines(candidate))
    if lookup.server:
        lines.extend(["", f";; SERVER: {lookup.server}"])
    return "\n".join(lines) + "\n"
