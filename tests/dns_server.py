"""A real, small authoritative DNS server on loopback for tests, built with dnspython.

Zone data is plain Python: ``{"example.test": ["MX 10 mx1.example.test", "300 A 192.0.2.1"]}``,
each entry ``[TTL] TYPE RDATA`` (TTL defaults to 300; names in RDATA are taken as absolute).
It answers over UDP and TCP on the same ephemeral port, from background threads::

    with DnsServer(zone, servfail={"broken.test"}, silent={"slow.test"}) as dns_server:
        host, port = dns_server.address

Names in ``servfail`` get SERVFAIL, names in ``refused`` get REFUSED, names in ``silent`` get
no answer at all (for timeouts) and names in ``truncate`` get an empty truncated reply over UDP,
so the client must retry over TCP.
Every query is logged in ``queries`` as ``(name, type, transport)``.
"""

from __future__ import annotations

import socket
import socketserver
import struct
import threading
from collections.abc import Iterable, Mapping
from types import TracebackType

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.rrset

Zone = Mapping[str, Iterable[str]]
DEFAULT_TTL = 300
# RFC 1035 §4.2.1: without EDNS a UDP answer is at most 512 octets.
CLASSIC_UDP_SIZE = 512
MAX_CNAME_CHAIN = 8
TCP_IDLE_SECONDS = 10.0


def _name(text: str) -> dns.name.Name:
    return dns.name.from_text(text)


def _parse_entry(owner: dns.name.Name, entry: str) -> dns.rrset.RRset:
    """One ``[TTL] TYPE RDATA`` entry as a one-record RRset."""
    first, _, rest = entry.strip().partition(" ")
    ttl = DEFAULT_TTL
    if first.isdigit():
        ttl = int(first)
        first, _, rest = rest.strip().partition(" ")
    rdtype = dns.rdatatype.from_text(first)
    rdata = dns.rdata.from_text(
        dns.rdataclass.IN, rdtype, rest.strip(), origin=dns.name.root, relativize=False
    )
    rrset = dns.rrset.RRset(owner, dns.rdataclass.IN, rdtype)
    rrset.add(rdata, ttl)
    return rrset


def build_records(zone: Zone) -> dict[dns.name.Name, list[dns.rrset.RRset]]:
    """Zone data as RRsets per owner name, records of one type merged into one RRset."""
    records: dict[dns.name.Name, list[dns.rrset.RRset]] = {}
    for owner_text, entries in zone.items():
        owner = _name(owner_text)
        rrsets = records.setdefault(owner, [])
        for entry in entries:
            new = _parse_entry(owner, entry)
            same = [r for r in rrsets if r.rdtype == new.rdtype]
            if same:
                same[0].union_update(new)
            else:
                rrsets.append(new)
    return records


class DnsServer:
    """An authoritative DNS server for one test, on 127.0.0.1, UDP and TCP on one port."""

    def __init__(
        self,
        zone: Zone | None = None,
        *,
        servfail: Iterable[str] = (),
        refused: Iterable[str] = (),
        silent: Iterable[str] = (),
        truncate: Iterable[str] = (),
        host: str = "127.0.0.1",
    ) -> None:
        self.records = build_records(zone or {})
        self.servfail = {_name(n) for n in servfail}
        self.refused = {_name(n) for n in refused}
        self.silent = {_name(n) for n in silent}
        self.truncate = {_name(n) for n in truncate}
        self.queries: list[tuple[str, str, str]] = []
        self._host = host
        self._lock = threading.Lock()
        self._servers: list[socketserver.BaseServer] = []
        self._threads: list[threading.Thread] = []

    @property
    def address(self) -> tuple[str, int]:
        """(host, port) to give the resolver."""
        udp = self._servers[0]
        assert isinstance(udp, socketserver.UDPServer), "server not started"
        host, port = udp.server_address[:2]
        return str(host), int(port)

    def set_zone(self, zone: Zone) -> None:
        """Replace all zone data while the server runs."""
        records = build_records(zone)
        with self._lock:
            self.records = records

    def start(self) -> DnsServer:
        """Bind UDP and TCP on one free port and serve from background threads."""
        udp, tcp = _bind_pair(self._host, self)
        self._servers = [udp, tcp]
        for server in self._servers:
            thread = threading.Thread(
                target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
            )
            thread.start()
            self._threads.append(thread)
        return self

    def stop(self) -> None:
        """Stop serving and close both sockets."""
        for server in self._servers:
            server.shutdown()
            server.server_close()
        for thread in self._threads:
            thread.join(timeout=5)
        self._threads = []

    def __enter__(self) -> DnsServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def queried(self, name: str, rdtype: str) -> int:
        """How many times ``name`` was asked for ``rdtype`` (any transport)."""
        wanted = _name(name)
        return sum(1 for q, t, _ in self.queries if _name(q) == wanted and t == rdtype.upper())

    def respond(self, wire: bytes, transport: str) -> bytes | None:
        """The wire answer to one query, or None to stay silent."""
        try:
            query = dns.message.from_wire(wire)
        except dns.exception.DNSException:
            return None  # not worth a FORMERR in a test server; the client will time out
        if not query.question:
            return None
        question = query.question[0]
        qname, qtype = question.name, question.rdtype
        with self._lock:
            self.queries.append((qname.to_text(), dns.rdatatype.to_text(qtype), transport))
            records = self.records
        if qname in self.silent:
            return None
        response = dns.message.make_response(query)
        response.flags |= dns.flags.AA
        if qname in self.servfail:
            response.set_rcode(dns.rcode.SERVFAIL)
        elif qname in self.refused:
            response.set_rcode(dns.rcode.REFUSED)
        elif transport == "udp" and qname in self.truncate:
            response.flags |= dns.flags.TC
        else:
            _answer(response, records, qname, qtype)
        return _to_wire(response, query, transport)


def _answer(
    response: dns.message.Message,
    records: dict[dns.name.Name, list[dns.rrset.RRset]],
    qname: dns.name.Name,
    qtype: dns.rdatatype.RdataType,
) -> None:
    """Fill the answer section, following CNAMEs inside our own data (RFC 1034 §4.3.2)."""
    name = qname
    for _ in range(MAX_CNAME_CHAIN):
        rrsets = records.get(name, [])
        wanted = [r for r in rrsets if r.rdtype == qtype]
        cname = [r for r in rrsets if r.rdtype == dns.rdatatype.CNAME]
        if wanted or not cname or qtype == dns.rdatatype.CNAME:
            response.answer.extend(wanted)
            break
        response.answer.append(cname[0])
        name = cname[0][0].target
    if not response.answer and not _exists(records, name):
        response.set_rcode(dns.rcode.NXDOMAIN)


def _exists(records: Mapping[dns.name.Name, object], name: dns.name.Name) -> bool:
    # RFC 8020: a name with data below it (an empty non-terminal) exists, so it is NODATA.
    return any(owner.is_subdomain(name) for owner in records)


def _to_wire(response: dns.message.Message, query: dns.message.Message, transport: str) -> bytes:
    if transport == "tcp":
        return response.to_wire()
    limit = max(CLASSIC_UDP_SIZE, query.payload if query.edns >= 0 else 0)
    try:
        return response.to_wire(max_size=limit)
    except dns.exception.TooBig:
        # RFC 1035 §4.2.1 / RFC 7766: too big for UDP, so send TC and let the client use TCP.
        response.answer = []
        response.flags |= dns.flags.TC
        return response.to_wire()


class _UdpHandler(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        data, sock = self.request
        reply = self.server.dns.respond(data, "udp")  # type: ignore[attr-defined]
        if reply is not None:
            try:
                sock.sendto(reply, self.client_address)
            except OSError:
                pass  # the client gave up and went away; nothing to do in a test server


class _TcpHandler(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        sock: socket.socket = self.request
        sock.settimeout(TCP_IDLE_SECONDS)
        try:
            while True:
                header = _recv_exact(sock, 2)
                if header is None:
                    return
                data = _recv_exact(sock, struct.unpack("!H", header)[0])
                if data is None:
                    return
                reply = self.server.dns.respond(data, "tcp")  # type: ignore[attr-defined]
                if reply is not None:
                    # RFC 1035 §4.2.2: TCP messages carry a two-octet length prefix.
                    sock.sendall(struct.pack("!H", len(reply)) + reply)
        except OSError:
            return  # timeouts and resets end the connection quietly


def _recv_exact(sock: socket.socket, size: int) -> bytes | None:
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            return None
        data += chunk
    return data


class _Udp(socketserver.ThreadingUDPServer):
    daemon_threads = True


class _Tcp(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


def _bind_pair(host: str, owner: DnsServer) -> tuple[_Udp, _Tcp]:
    """UDP on a free port, then TCP on the same port; retry if TCP's is taken."""
    last_error: OSError | None = None
    for _ in range(20):
        udp = _Udp((host, 0), _UdpHandler)
        try:
            tcp = _Tcp((host, udp.server_address[1]), _TcpHandler)
        except OSError as error:
            udp.server_close()
            last_error = error
            continue
        udp.dns = owner  # type: ignore[attr-defined]
        tcp.dns = owner  # type: ignore[attr-defined]
        return udp, tcp
    raise RuntimeError(f"no free port for UDP and TCP together: {last_error}")
