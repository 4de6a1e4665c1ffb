"""A real Postfix (Debian's) on loopback, with its own configuration, queue, log and mailbox.

Started as ``postfix -c DIR start`` from a directory this module writes, so the system's
``/etc/postfix`` instance is never read for settings nor touched. It listens on three loopback
ports: plain SMTP with STARTTLS, implicit TLS (``smtpd_tls_wrappermode``), and plain SMTP with
PIPELINING and CHUNKING not offered. Cyrus SASL checks PLAIN, LOGIN and CRAM-MD5 against a
sasldb; mail for ``example.test`` is delivered by the ``virtual`` agent to one Maildir per user;
the log is a plain file (``maillog_file``, Postfix >= 3.4, through the ``postlog`` service).
"""

from __future__ import annotations

import os
import pwd
import re
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from smtp_session.wire.certs import make_self_signed

POSTFIX = "/usr/sbin/postfix"
SASLPASSWD2 = "/usr/sbin/saslpasswd2"
DOMAIN = "example.test"
HOSTNAME = "postfix.example.test"
MAILBOXES = ("alice", "bob", "carol")
SASL_USER, SASL_PASSWORD = "alice", "postfix-secret"
SASL_LOGIN = f"{SASL_USER}@{DOMAIN}"
_SASL_PLUGINS = ("plain", "login", "crammd5", "sasldb")

# The services a delivering instance needs; chroot ("n" in column 5) is off everywhere, so
# the daemons see this directory's absolute paths (Debian runs most of them chrooted).
_MASTER_CF = """\
{plain}  inet n - n - - smtpd
{tls}  inet n - n - - smtpd
  -o smtpd_tls_wrappermode=yes
  -o syslog_name=postfix/smtps
{bare}  inet n - n - - smtpd
  -o smtpd_discard_ehlo_keywords=pipelining,chunking,silent-discard
  -o syslog_name=postfix/bare
cleanup   unix n - n - 0 cleanup
qmgr      unix n - n 300 1 qmgr
tlsmgr    unix - - n 1000? 1 tlsmgr
rewrite   unix - - n - - trivial-rewrite
bounce    unix - - n - 0 bounce
defer     unix - - n - 0 bounce
trace     unix - - n - 0 bounce
verify    unix - - n - 1 verify
flush     unix n - n 1000? 0 flush
proxymap  unix - - n - - proxymap
smtp      unix - - n - - smtp
relay     unix - - n - - smtp
showq     unix n - n - - showq
error     unix - - n - - error
retry     unix - - n - - error
discard   unix - - n - - discard
local     unix - n n - - local
virtual   unix - n n - - virtual
anvil     unix - - n - 1 anvil
scache    unix - - n - 1 scache
postlog   unix-dgram n - n - 1 postlogd
"""

_MAIN_CF = """\
compatibility_level = 3.6
config_directory = {root}/etc
queue_directory = {root}/queue
data_directory = {root}/data
mail_owner = postfix
setgid_group = postdrop
myhostname = {hostname}
mydomain = {domain}
mydestination =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
relayhost = {relayhost}
default_transport = {transport}
smtp_tls_security_level = may
maillog_file = {root}/log/maillog
maillog_file_prefixes = {root}/log
alias_maps =
alias_database =
biff = no
smtputf8_enable = no
virtual_mailbox_domains = {domain}
virtual_mailbox_base = {root}/mail
virtual_mailbox_maps = texthash:{root}/etc/mailboxes
virtual_uid_maps = static:{uid}
virtual_gid_maps = static:{gid}
smtpd_tls_cert_file = {root}/etc/cert.pem
smtpd_tls_key_file = {root}/etc/key.pem
smtpd_tls_security_level = may
smtpd_tls_loglevel = 1
smtpd_tls_received_header = yes
smtpd_sasl_auth_enable = yes
smtpd_sasl_type = cyrus
smtpd_sasl_path = smtpd
cyrus_sasl_config_path = {root}/etc/sasl
smtpd_sasl_local_domain = {domain}
smtpd_sasl_authenticated_header = yes
smtpd_relay_restrictions = permit_mynetworks, permit_sasl_authenticated, reject_unauth_destination
# As strict as a careful MTA: DATA from a client that sent commands ahead of their replies
# where RFC 2920 does not allow it (or without PIPELINING offered) gets 554.
smtpd_data_restrictions = reject_unauth_pipelining
"""

_SMTPD_CONF = """\
pwcheck_method: auxprop
auxprop_plugin: sasldb
mech_list: PLAIN LOGIN CRAM-MD5
sasldb_path: {root}/sasldb/sasldb2
"""


def missing() -> str | None:
    """Why this machine cannot run the fixture, or None when it can."""
    for path, package in ((POSTFIX, "postfix"), (SASLPASSWD2, "sasl2-bin")):
        if not os.path.exists(path):
            return f"{path} is missing (apt-get install {package})"
    if not all(list(Path("/usr/lib").glob(f"*/sasl2/lib{m}.so*")) for m in _SASL_PLUGINS):
        return "Cyrus SASL's PLAIN/LOGIN/CRAM-MD5 plugins are missing (libsasl2-modules)"
    try:
        pwd.getpwnam("postfix")
    except KeyError:
        return "the 'postfix' system user is missing (the postfix package creates it)"
    if os.geteuid() != 0:
        return "postfix start needs root (the test runs as a normal user)"
    return None


@dataclass(frozen=True)
class Ports:
    """The instance's loopback ports."""

    plain: int  # SMTP with STARTTLS, PIPELINING and CHUNKING
    tls: int  # implicit TLS (smtpd_tls_wrappermode)
    bare: int  # no PIPELINING, no CHUNKING


class PostfixInstance:
    """One Postfix on loopback; ``start()`` then ``stop()`` (also a context manager)."""

    def __init__(self, ports: Ports, relayhost: str | None = None) -> None:
        self.ports = ports
        # "[127.0.0.1]:2525": mail for other domains goes there (the sandbox as relayhost);
        # without one the instance relays nothing.
        self.relayhost = relayhost
        # Not under pytest's tmp_path: that is root-only (0700) and the daemons run as the
        # postfix user and the mailbox owner, who must reach these paths.
        self.root = Path(tempfile.mkdtemp(prefix="playground-postfix-"))
        self.root.chmod(0o755)
        self.etc = self.root / "etc"
        self.log_file = self.root / "log" / "maillog"
        self.cert_pem = b""
        self._started = False

    # --- set-up ---------------------------------------------------------------------------
    def _write_config(self) -> None:
        owner = pwd.getpwnam("nobody")
        fields = {
            "root": self.root,
            "hostname": HOSTNAME,
            "domain": DOMAIN,
            "uid": owner.pw_uid,
            "gid": owner.pw_gid,
            "relayhost": self.relayhost or "",
            "transport": "smtp" if self.relayhost else "error:this test instance relays nothing",
        }
        for sub in ("etc", "etc/sasl", "sasldb", "queue", "data", "log", "mail"):
            (self.root / sub).mkdir(mode=0o755, exist_ok=True)
        postfix = pwd.getpwnam("postfix")
        # Postfix wants data_directory owned by mail_owner, the queue top by root.
        os.chown(self.root / "data", postfix.pw_uid, postfix.pw_gid)
        os.chown(self.root / "mail", owner.pw_uid, owner.pw_gid)
        (self.etc / "main.cf").write_text(_MAIN_CF.format(**fields))
        (self.etc / "master.cf").write_text(
            _MASTER_CF.format(
                plain=f"127.0.0.1:{self.ports.plain}",
                tls=f"127.0.0.1:{self.ports.tls}",
                bare=f"127.0.0.1:{self.ports.bare}",
            )
        )
        (self.etc / "mailboxes").write_text(
            "".join(f"{name}@{DOMAIN} {DOMAIN}/{name}/\n" for name in MAILBOXES)
        )
        self.cert_pem, key_pem = make_self_signed(HOSTNAME, (HOSTNAME, "localhost"), ("127.0.0.1",))
        (self.etc / "cert.pem").write_bytes(self.cert_pem)
        key = self.etc / "key.pem"
        key.write_bytes(key_pem)
        key.chmod(0o600)
        self._write_sasl(postfix)

    def _write_sasl(self, postfix: pwd.struct_passwd) -> None:
        (self.etc / "sasl" / "smtpd.conf").write_text(_SMTPD_CONF.format(root=self.root))
        # Outside config_directory: ``postfix check`` wants everything there owned by root.
        sasldb = self.root / "sasldb" / "sasldb2"
        subprocess.run(
            [SASLPASSWD2, "-f", str(sasldb), "-c", "-p", "-u", DOMAIN, SASL_USER],
            input=SASL_PASSWORD.encode(),
            check=True,
            capture_output=True,
        )
        # smtpd reads it as the postfix user.
        os.chown(sasldb, postfix.pw_uid, postfix.pw_gid)
        sasldb.chmod(0o600)

    def start(self) -> PostfixInstance:
        """Write the configuration and start the instance; raises with Postfix's words."""
        self._write_config()
        self._postfix("check")
        self._postfix("start")
        self._started = True
        # postfix-script starts ``master -w``, which returns once master has bound its
        # ports: the instance is listening when this returns.
        return self

    def stop(self) -> None:
        """Stop the instance and remove its directory."""
        if self._started:
            self._postfix("stop", check=False)
            self._started = False
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> PostfixInstance:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _postfix(self, command: str, check: bool = True) -> None:
        done = subprocess.run(
            [POSTFIX, "-c", str(self.etc), command], capture_output=True, text=True, timeout=60
        )
        if check and done.returncode != 0:
            raise AssertionError(f"postfix {command} failed: {done.stderr or done.stdout}")

    # --- what it received -----------------------------------------------------------------
    def log(self) -> str:
        """Everything the instance has logged so far."""
        try:
            return self.log_file.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def maildir(self, user: str) -> Path:
        return self.root / "mail" / DOMAIN / user / "new"

    def messages(self, user: str) -> list[bytes]:
        """The messages delivered to ``user``, oldest first."""
        folder = self.maildir(user)
        if not folder.exists():
            return []
        # Maildir names start with the delivery time in seconds.
        paths = sorted(folder.iterdir(), key=lambda p: (p.stat().st_mtime_ns, p.name))
        return [p.read_bytes() for p in paths]

    def wait_for_messages(self, user: str, count: int = 1, timeout: float = 20.0) -> list[bytes]:
        """Until ``user`` has ``count`` messages (delivery is asynchronous: queue, then virtual)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = self.messages(user)
            if len(found) >= count:
                return found
            time.sleep(0.05)
        raise AssertionError(
            f"{user} has {len(self.messages(user))} of {count} messages: {self.log()[-3000:]}"
        )

    def wait_for_log(self, text: str, timeout: float = 20.0) -> str:
        """Until the log contains ``text``; returns the whole log."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            log = self.log()
            if text in log:
                return log
            time.sleep(0.05)
        raise AssertionError(f"{text!r} not in the Postfix log: {self.log()[-3000:]}")

    def delivered(self, user: str, subject: str, timeout: float = 20.0) -> bytes:
        """The one message with this subject in ``user``'s Maildir (waits for delivery)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = [m for m in self.messages(user) if f"Subject: {subject}\n".encode() in m]
            if found:
                assert len(found) == 1, found
                return found[0]
            time.sleep(0.05)
        raise AssertionError(f"no message {subject!r} for {user}: {self.log()[-3000:]}")

    def queue_log(self, qid: str) -> str:
        """The log lines about one queued message, once it has left the queue."""
        self.wait_for_log(f"{qid}: removed")
        return "\n".join(line for line in self.log().splitlines() if f" {qid}: " in line)

    def session_log(self, marker: str) -> str:
        """The log of the (last) smtpd session that logged ``marker``, connect to disconnect.

        smtpd processes serve one connection after another, so the session is cut out of
        its process's lines: the last "connect from" before the marker to the next
        "disconnect from" after it.
        """
        self.wait_for_log(marker)
        lines = self.log().splitlines()
        at = max(i for i, line in enumerate(lines) if marker in line)
        pid = re.search(r"smtpd\[(\d+)\]", lines[at])
        assert pid, lines[at]
        tag = f"smtpd[{pid.group(1)}]: "
        deadline = time.monotonic() + 20
        while True:
            lines = self.log().splitlines()
            own = [(i, line.split(tag, 1)[1]) for i, line in enumerate(lines) if tag in line]
            start = max(i for i, text in own if i <= at and text.startswith("connect from"))
            ends = [i for i, text in own if i > at and text.startswith("disconnect from")]
            if ends:
                return "\n".join(lines[i] for i, _ in own if start <= i <= ends[0])
            if time.monotonic() > deadline:
                raise AssertionError(f"no disconnect after {marker!r}: {self.log()[-3000:]}")
            time.sleep(0.05)
