#!/usr/bin/python3
"""A throwaway aiosmtpd server for tests/mta/aiosmtpd_test.sh: a real SMTP implementation
(Debian's python3-aiosmtpd) on 127.0.0.1 that never stores or relays mail.

    aiosmtpd_server.py --mode closed|catchall|open --port PORT --log FILE
                       [--cert PEM --key PEM] [--require-starttls] [--implicit-tls]
                       [--auth-user NAME --auth-password-file FILE]

Modes (the server's own name is mx.test, its banner "220 mx.test Python SMTP <version>"):
  closed    an MX for mx.test with two mailboxes: postmaster@ and user@ are accepted, any other
            local part at mx.test gets "550 5.1.1 ... User unknown", any other domain (and the
            address literal [127.0.0.1]) "550 5.7.1 ... Relay access denied".
  catchall  accepts ANY local part at mx.test (catch-all / accept-then-bounce); other domains
            are refused with 550 5.7.1 like closed.
  open      an open relay: every sender and every recipient is accepted.
A recipient without a domain (a bare local part, a quoted local part, a bang path) gets
"550 5.1.3 Bad recipient address syntax" in closed and catchall.

TLS: --cert/--key offer STARTTLS; --require-starttls answers every command but EHLO, NOOP,
STARTTLS and QUIT with 530 before TLS (aiosmtpd's require_starttls); --implicit-tls speaks TLS
from the first byte (SMTPS, RFC 8314) and offers no STARTTLS.

AUTH: --auth-user/--auth-password-file offer SMTP AUTH (aiosmtpd's PLAIN and LOGIN, RFC 4954)
after TLS only (auth_require_tls), checked by an authenticator against that one user: 235 for
the right password, 535 5.7.8 otherwise.

DATA is always refused (554, before any 354) and BDAT is not implemented (500): nothing is ever
stored, queued or delivered.

The log (--log) is the test's source of truth, one line per event:
  <time> [<client port>] connect 127.0.0.1:<port>
  <time> [<client port>] C: <command line as received>
  <time> [<client port>] S: <reply line as sent>
  <time> [<client port>] tls established <version> <cipher>
  <time> [<client port>] disconnect commands=<n> quit=<0|1> data=<n> bdat=<n> tls=<0|1> <CMD>=<n>...
  <time> [-] WARNING|ERROR|CRITICAL: <aiosmtpd's own message, e.g. an unrecognised command>
The "C:" lines come from aiosmtpd's own "peer >> line" record (logger mail.log, INFO), so every
command line the SMTP engine read is logged, including refused and unknown ones.
"""

import argparse
import asyncio
import collections
import datetime
import logging
import os
import signal
import ssl
import sys

import aiosmtpd
from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword

LOCAL_DOMAINS = {"mx.test"}
MAILBOXES = {"postmaster", "user"}

_out = None
# client port -> Counter of the command verbs seen in that session
_sessions = collections.defaultdict(collections.Counter)


def note(port, text):
    stamp = datetime.datetime.now().isoformat(timespec="milliseconds")
    _out.write(f"{stamp} [{port}] {text}\n")
    _out.flush()


def peer_port(peer):
    try:
        return peer[1]
    except (TypeError, IndexError):
        return "-"


class CommandRecorder(logging.Handler):
    """Turns aiosmtpd's '%r >> %r' (peer, command line) records into "C:" lines."""

    def emit(self, record):
        if record.levelno >= logging.WARNING:  # aiosmtpd's own warnings and errors, tracebacks
            text = self.format(record).replace("\n", "\n    ")
            note("-", f"{record.levelname}: {text}")
            return
        if record.msg != "%r >> %r" or len(record.args) != 2:
            return
        peer, line = record.args
        if isinstance(line, bytes):
            line = line.decode("utf-8", "backslashreplace")
        port = peer_port(peer)
        verb = line.split(" ", 1)[0].upper() if line else ""
        _sessions[port][verb] += 1
        note(port, f"C: {line}")


def split_address(address):
    """(local part, domain) of an addr-spec; domain "" when there is none outside quotes."""
    if address.endswith('"'):
        return address, ""
    local, at, domain = address.rpartition("@")
    if not at:
        return address, ""
    return local, domain.lower()


class Policy:
    def __init__(self, mode):
        self.mode = mode

    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 2.1.0 OK"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        local, domain = split_address(address)
        if self.mode != "open":
            if not domain:
                return f"550 5.1.3 <{address}>: Bad recipient address syntax"
            if domain not in LOCAL_DOMAINS:
                return f"550 5.7.1 <{address}>: Relay access denied"
            if self.mode == "closed" and local.lower() not in MAILBOXES:
                return f"550 5.1.1 <{address}>: Recipient address rejected: User unknown"
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server, session, envelope):  # never reached: DATA is refused
        return "554 5.7.0 integration test server refuses DATA"


class RecordingSMTP(SMTP):
    """aiosmtpd's SMTP that logs every reply and every session, and refuses DATA outright."""

    def connection_made(self, transport):
        starttls_done = self._original_transport is not None
        super().connection_made(transport)
        port = peer_port(self.session.peer)
        if starttls_done:
            self._log_tls(port, transport)
        else:
            note(port, f"connect {self.session.peer[0]}:{port}")
            if transport.get_extra_info("ssl_object") is not None:
                self._log_tls(port, transport)

    def _log_tls(self, port, transport):
        obj = transport.get_extra_info("ssl_object")
        version = obj.version() if obj else "?"
        cipher = obj.cipher()[0] if obj and obj.cipher() else "?"
        _sessions[port]["(tls)"] += 1
        note(port, f"tls established {version} {cipher}")

    def connection_lost(self, error):
        port = peer_port(self.session.peer)
        seen = _sessions.pop(port, collections.Counter())
        tls = 1 if seen.pop("(tls)", 0) else 0
        verbs = " ".join(f"{k}={v}" for k, v in sorted(seen.items()) if k)
        note(port, f"disconnect commands={sum(seen.values())} quit={min(seen['QUIT'], 1)} "
                   f"data={seen['DATA']} bdat={seen['BDAT']} tls={tls} {verbs}".rstrip())
        super().connection_lost(error)

    async def push(self, status):
        text = status.decode("utf-8", "backslashreplace") if isinstance(status, bytes) else status
        note(peer_port(self.session.peer), f"S: {text}")
        await super().push(status)

    async def smtp_DATA(self, arg):
        await self.push("554 5.7.0 integration test server refuses DATA")


class Authenticator:
    """aiosmtpd's authenticator protocol: one user, the password from a file."""

    def __init__(self, user, password_file):
        self.user = user.encode()
        with open(password_file, "rb") as f:
            self.password = f.readline().rstrip(b"\r\n")

    def __call__(self, server, session, envelope, mechanism, auth_data):
        ok = (isinstance(auth_data, LoginPassword) and auth_data.login == self.user
              and auth_data.password == self.password)
        note(peer_port(session.peer), f"auth {mechanism} {'success' if ok else 'failure'}")
        # handled=False: aiosmtpd answers a failure with its 535 5.7.8 (AuthResult's default,
        # handled=True, would leave the client waiting for a reply that never comes).
        return AuthResult(success=ok, handled=False)


def main():
    global _out
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--mode", choices=("closed", "catchall", "open"), required=True)
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--log", required=True)
    ap.add_argument("--cert")
    ap.add_argument("--key")
    ap.add_argument("--require-starttls", action="store_true")
    ap.add_argument("--implicit-tls", action="store_true")
    ap.add_argument("--auth-user")
    ap.add_argument("--auth-password-file")
    args = ap.parse_args()
    if bool(args.auth_user) != bool(args.auth_password_file):
        ap.error("--auth-user and --auth-password-file go together")
    if (args.require_starttls or args.implicit_tls) and not (args.cert and args.key):
        ap.error("--require-starttls and --implicit-tls need --cert and --key")
    if args.require_starttls and args.implicit_tls:
        ap.error("--require-starttls and --implicit-tls exclude each other")

    _out = open(args.log, "a", encoding="utf-8")
    recorder = CommandRecorder()
    mail_log = logging.getLogger("mail.log")
    mail_log.setLevel(logging.INFO)
    mail_log.addHandler(recorder)
    mail_log.propagate = False

    tls_context = None
    if args.cert:
        tls_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        tls_context.load_cert_chain(args.cert, args.key)

    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    policy = Policy(args.mode)
    authenticator = (Authenticator(args.auth_user, args.auth_password_file)
                     if args.auth_user else None)

    def factory():
        return RecordingSMTP(
            policy,
            hostname="mx.test",
            tls_context=None if args.implicit_tls else tls_context,
            require_starttls=args.require_starttls,
            authenticator=authenticator,
            auth_require_tls=True,
            loop=loop,
        )

    server = loop.run_until_complete(loop.create_server(
        factory, host="127.0.0.1", port=args.port,
        ssl=tls_context if args.implicit_tls else None, reuse_address=True))
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, loop.stop)
    note("-", f"aiosmtpd {aiosmtpd.__version__} mode={args.mode} listening on 127.0.0.1:{args.port}"
              f" starttls={'required' if args.require_starttls else 'offered' if tls_context and not args.implicit_tls else 'no'}"
              f" implicit_tls={'yes' if args.implicit_tls else 'no'} pid={os.getpid()}")
    try:
        loop.run_forever()
    finally:
        server.close()
        note("-", "stopped")
        _out.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
