"""A mail server on loopback for the alert tests (Debian's python3-aiosmtpd).

Usage: smtp_sink.py PORT DIR. Every message taken is written to DIR as <n>-<recipient>.eml, one file per
recipient; a recipient whose address starts with "refused" is refused with 550, as a server refuses an
unknown mailbox. Prints "ready" once it listens.
"""

import asyncio
import itertools
import pathlib
import sys

from aiosmtpd.controller import Controller

COUNTER = itertools.count(1)


class Sink:
    def __init__(self, directory):
        self.directory = pathlib.Path(directory)

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address.lower().startswith("refused"):
            return "550 5.1.1 <%s>: no such mailbox" % address
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        for rcpt in envelope.rcpt_tos:
            name = "%04d-%s.eml" % (next(COUNTER), rcpt)
            tmp = self.directory / (name + ".tmp")
            tmp.write_bytes(envelope.original_content)
            tmp.rename(self.directory / name)
        return "250 Message accepted"


def main():
    port, directory = int(sys.argv[1]), sys.argv[2]
    controller = Controller(Sink(directory), hostname="127.0.0.1", port=port)
    controller.start()
    print("ready", flush=True)
    try:
        asyncio.get_event_loop().run_forever()
    finally:
        controller.stop()


if __name__ == "__main__":
    main()
