"""aiosmtpd handler: store accepted mail in a Maildir, refuse chosen recipients.

Start:
    python3 -m aiosmtpd -n -l 127.0.0.1:2525 -c rulemailbox.RuleMailbox MAILDIR [RULES.json]
(the directory holding rulemailbox.py must be importable: run from it or set PYTHONPATH)

Recipient rules, checked on every RCPT TO (first match wins):
  1. RULES.json, re-read on each RCPT so a test can rewrite it at run time:
       {"bob@example.com": 451, "eve@example.com": "550 5.1.1 No such user"}
     keys are compared case-insensitively; an int becomes a default reply text.
  2. local part starting with "tempfail" -> 451, with "reject" -> 550.
  3. anything else -> 250 (accepted).
Accepted messages are stored byte-for-byte as received (CRLF kept, dot-unstuffed),
prefixed with X-MailFrom / X-RcptTo lines, one Maildir file per message.
"""
import json
import mailbox
import os
from argparse import ArgumentParser

DEFAULT_TEXT = {
    421: "421 4.3.0 Service not available",
    450: "450 4.2.1 Mailbox busy, try again later",
    451: "451 4.3.0 Temporary failure, try again later",
    452: "452 4.3.1 Insufficient storage",
    550: "550 5.1.1 Mailbox unavailable",
    551: "551 5.1.6 User not local",
    552: "552 5.2.2 Mailbox full",
    553: "553 5.1.3 Mailbox name not allowed",
    554: "554 5.7.1 Transaction failed",
}


class RuleMailbox:
    def __init__(self, mail_dir, rules_path=None):
        # mailbox.Maildir only creates cur/new/tmp when mail_dir does NOT exist yet,
        # so create them ourselves (works for an existing empty temp dir too).
        for sub in ("cur", "new", "tmp"):
            os.makedirs(os.path.join(mail_dir, sub), exist_ok=True)
        self.mail_dir = mail_dir
        self.mailbox = mailbox.Maildir(mail_dir, create=False)
        self.rules_path = rules_path

    @classmethod
    def from_cli(cls, parser: ArgumentParser, *args):
        if not 1 <= len(args) <= 2:
            parser.error("usage: -c rulemailbox.RuleMailbox MAILDIR [RULES.json]")
        return cls(*args)

    def _load_rules(self):
        if not self.rules_path:
            return {}
        try:
            with open(self.rules_path, encoding="utf-8") as f:
                return {k.lower(): v for k, v in json.load(f).items()}
        except FileNotFoundError:
            return {}

    def reply_for(self, address):
        rule = self._load_rules().get(address.lower())
        if rule is None:
            local = address.rpartition("@")[0].lower()
            if local.startswith("tempfail"):
                rule = 451
            elif local.startswith("reject"):
                rule = 550
        if rule is None:
            return None
        if isinstance(rule, int):
            return DEFAULT_TEXT.get(rule, f"{rule} Refused by test rule")
        return str(rule)

    # aiosmtpd awaits hooks, so they must be coroutines.
    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        reply = self.reply_for(address)
        if reply is not None:
            return reply  # not appended to envelope.rcpt_tos
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        head = (
            f"X-MailFrom: {envelope.mail_from}\r\n"
            f"X-RcptTo: {', '.join(envelope.rcpt_tos)}\r\n"
        ).encode("utf-8")
        # original_content is the raw bytes whatever decode_data is.
        self.mailbox.add(head + envelope.original_content)
        return "250 OK"
