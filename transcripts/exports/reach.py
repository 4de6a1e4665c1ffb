"""Where a script that reproduces a session should connect, and what to tell its reader about it.

The transcript names the host the playground reached; the reader runs the script elsewhere. An MX
session's host came from the playground's resolver (a classroom zone, say) and may not resolve
for the reader, so the scripts use the address it connected to and say why; a loopback or private
address is reachable only from the playground's own machine or network.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from transcripts.exports.facts import Facts
from transcripts.model import Transcript


@dataclass(frozen=True)
class Reach:
    """The host the script connects to, and comment lines (without "# ") explaining it."""

    host: str
    notes: list[str]


def reach_of(transcript: Transcript, facts: Facts) -> Reach:
    """Where to connect, and what the reader must know to reach it."""
    target = transcript.target
    notes: list[str] = []
    host = facts.host
    if target.lower().startswith("mx:"):
        domain = target[3:].split(" ", 1)[0]
        host = facts.address or facts.host
        notes += [
            f"The session went by MX lookup for {domain} to {facts.host}"
            + (f" ({facts.address})" if facts.address else "")
            + ", as the playground's",
            "resolver answered; the script uses the address it connected to, since that name",
            "may not resolve (or resolve elsewhere) where you run this.",
        ]
    elif target.startswith("sandbox"):
        notes.append("The session went to the playground's built-in sandbox.")
    scope = _scope(host)
    if scope is not None:
        notes += [f"{host} is {scope}:", "run this where it is reachable, or change the server."]
    if facts.port == 25:
        notes.append(
            "Many networks block outgoing port 25: this may work only inside one that allows it."
        )
    return Reach(host, notes)


def _scope(host: str) -> str | None:
    try:
        address = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return "the playground's own machine" if host == "localhost" else None
    if address.is_loopback:
        return "the loopback address of the playground's own machine"
    if address.is_private or address.is_link_local:
        return "a private address, reachable only inside its own network"
    return None
