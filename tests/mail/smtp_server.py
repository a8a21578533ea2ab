"""A real SMTP server for Parley's email tests (aiosmtpd on loopback).

Takes mail with AUTH PLAIN/LOGIN (user any, password `smtp-secret`) and writes each one to
`--dir` as N.eml with N.json (envelope sender and recipients). Recipients whose local part
starts with `tempfail` get `451 4.3.0`, with `reject` get `550 5.1.1`, as real servers answer.
Prints `listening PORT` once ready.
"""
import argparse
import asyncio
import json
import logging
import os
import socket
import sys
import warnings

warnings.filterwarnings("ignore")

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

PASSWORD = b"smtp-secret"


class Store:
    def __init__(self, directory):
        self.directory = directory
        self.count = 0

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        local = address.split("@")[0].lower()
        if local.startswith("tempfail"):
            return "451 4.3.0 Mailbox temporarily unavailable, try again later"
        if local.startswith("reject"):
            return "550 5.1.1 <%s>: Recipient address rejected: User unknown" % address
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.count += 1
        base = os.path.join(self.directory, "%04d" % self.count)
        with open(base + ".json", "w") as meta:
            json.dump({"mail_from": envelope.mail_from, "rcpt_tos": envelope.rcpt_tos}, meta)
        with open(base + ".eml.part", "wb") as mail:
            mail.write(envelope.original_content)
        os.rename(base + ".eml.part", base + ".eml")
        return "250 2.0.0 Ok: queued"


def authenticate(server, session, envelope, mechanism, auth_data):
    if isinstance(auth_data, LoginPassword) and auth_data.password == PASSWORD:
        return AuthResult(success=True)
    return AuthResult(success=False, handled=False)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--dir", required=True)
    args = parser.parse_args()
    logging.getLogger("mail.log").setLevel(logging.ERROR)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(
        Store(args.dir),
        hostname="127.0.0.1",
        port=port,
        authenticator=authenticate,
        auth_require_tls=False,
        auth_required=True,
    )
    controller.start()
    print("listening %d" % port, flush=True)
    try:
        asyncio.get_event_loop().run_forever()
    except KeyboardInterrupt:
        pass
    finally:
        controller.stop()


if __name__ == "__main__":
    sys.exit(main())
