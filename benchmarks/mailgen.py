"""Deterministic synthetic support mail for benchmarks, built with the stdlib `email` package.

Nothing is read from disk or the network: every message comes from a seeded `random.Random`,
so the same seed and count give the same bytes. The mix resembles a support inbox: plain
text, HTML-only, multipart/alternative, attachments (a few KB to ~200 KB), 8-bit
ISO-8859-1 and windows-1252 bodies, RFC 2047 subjects, replies (In-Reply-To/References to
earlier generated Message-IDs, quoted text), auto-replies (Auto-Submitted), bounces
(multipart/report with message/delivery-status), list mail (List-Id), and a share of exact
duplicates (the same bytes yielded twice, as a mail server that delivers twice would).

    gen = MailGenerator(2000, seed=1)
    for raw in gen:          # bytes with CRLF line ends, ready for IMAP APPEND
        ...
    gen.kinds                # Counter of what was generated, including "duplicate"
"""

from __future__ import annotations

import math
import random
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email import policy
from email.header import Header
from email.message import EmailMessage
from email.utils import format_datetime, formataddr

SUPPORT = "support@example.com"
START = datetime(2024, 3, 4, 8, 0, tzinfo=UTC)

# Share of each kind among the unique messages; duplicates come on top (see `dup_share`).
KINDS: dict[str, float] = {
    "plain": 0.22,
    "html": 0.08,
    "alternative": 0.12,
    "attachment": 0.10,
    "latin1": 0.07,
    "cp1252": 0.07,
    "encoded_subject": 0.06,
    "reply": 0.15,
    "auto_reply": 0.05,
    "bounce": 0.03,
    "list": 0.05,
}

FIRST = ["Ann", "Bob", "Chidi", "Dana", "Emil", "Fatima", "Gustav", "Hana", "Ivan", "Jun"]
FIRST_ACCENTED = ["Zoë", "José", "Björn", "Renée", "Jürgen", "François", "Søren", "Inés"]
LAST = ["Meyer", "Okafor", "Smith", "Tanaka", "Novak", "Rossi", "Berg", "Kowalski", "Silva"]
DOMAINS = ["customer.example", "acme.example", "mail.example.org", "shop.example.net"]

TOPICS: list[tuple[str, list[str]]] = [
    (
        "Order {n} has not arrived",
        [
            "I ordered on the {d}th and the parcel still has not arrived.",
            "The tracking number {n} shows no movement for a week.",
            "Could you check where my order is? I need it by Friday.",
        ],
    ),
    (
        "Invoice {n} is wrong",
        [
            "Invoice {n} charges us twice for the same licence.",
            "Please send a corrected invoice; our accounts team cannot book this one.",
            "We were billed {n} EUR instead of the agreed price.",
        ],
    ),
    (
        "Cannot log in since the update",
        [
            "Since yesterday's update I get 'invalid password' although it is correct.",
            "Resetting the password did not help, the email never arrives.",
            "This is urgent: our whole team is locked out of production.",
        ],
    ),
    (
        "Refund request for order {n}",
        [
            "The product arrived damaged and I would like a refund.",
            "I returned the item on the {d}th; when will I get my money back?",
            "I've been waiting three weeks and nobody answers. This is unacceptable.",
        ],
    ),
    (
        "Feature question about exports",
        [
            "Is it possible to export reports as CSV with custom columns?",
            "We would like to schedule the export every Monday morning.",
            "Thanks for the great product, it saves us a lot of time.",
        ],
    ),
    (
        "Bug: app crashes when uploading files",
        [
            "The app crashes every time I upload a file larger than 10 MB.",
            "Error message: 'unexpected error (code {n})'. Screenshot attached.",
            "It worked fine last week with the same files.",
        ],
    ),
    (
        "Change of billing address",
        [
            "We moved offices; please update our billing address from next month.",
            "The new VAT number is DE{n}.",
            "Let me know if you need anything else from us.",
        ],
    ),
]

GERMAN = [
    (
        "Lieferung {n} ist nicht angekommen",
        [
            "Meine Bestellung vom {d}. ist immer noch nicht da.",
            "Können Sie bitte prüfen, wo das Paket ist? Es ist dringend.",
            "Mit freundlichen Grüßen aus Köln",
        ],
    ),
    (
        "Rechnung {n} fehlerhaft",
        [
            "Die Rechnung {n} enthält eine doppelte Position über {d} EUR.",
            "Bitte schicken Sie uns eine korrigierte Rechnung zu.",
            "Vielen Dank für Ihre Mühe und schöne Grüße",
        ],
    ),
]
FRENCH = [
    (
        "Commande {n} non reçue",
        [
            "J'ai commandé le {d} et je n'ai toujours rien reçu.",
            "Pouvez-vous vérifier où se trouve mon colis ? C'est très gênant.",
            "Merci d'avance et à bientôt",
        ],
    ),
    (
        "Problème de connexion",
        [
            "Depuis la mise à jour, je ne peux plus me connecter à mon compte.",
            "J'ai déjà réinitialisé le mot de passe, sans succès.",
            "Cordialement, et désolé pour le dérangement",
        ],
    ),
]
# Characters that exist in windows-1252 but not in ISO-8859-1 (0x80-0x9F): quotes, dashes, €.
CP1252_LINES = [
    "I was told “it will be fixed next week” – that was a month ago.",
    "The price shown was €{n}, but I was charged more — please explain.",
    "Your agent said ‘no problem’… and then nothing happened.",
    "We’re a paying customer since {d} years; this isn’t acceptable.",
]
ENCODED_SUBJECTS = [
    ("Réclamation: colis endommagé n° {n}", "iso-8859-1"),
    ("Überweisung für Rechnung {n} nicht gefunden", "iso-8859-1"),
    ("Pedido {n}: ¿dónde está mi paquete?", "iso-8859-1"),
    ("Zamówienie {n} – błąd płatności", "utf-8"),
    ("Заказ {n} не доставлен", "utf-8"),
    ("注文 {n} が届きません", "utf-8"),
    ("Problem with order {n} 🙁", "utf-8"),
]
ATTACHMENTS = [
    ("application", "pdf", "invoice-{n}.pdf"),
    ("image", "png", "screenshot-{n}.png"),
    ("image", "jpeg", "photo_{n}.jpg"),
    ("application", "zip", "logs-{n}.zip"),
    ("text", "csv", "export-{n}.csv"),
]


@dataclass(frozen=True)
class Sent:
    """What later replies need to know about an earlier generated message."""

    message_id: str
    sender: str
    name: str
    subject: str
    lines: tuple[str, ...]
    date: datetime


class MailGenerator:
    """`count` raw messages in total, of which about `dup_share` are exact repeats."""

    def __init__(self, count: int, *, seed: int = 20240304, dup_share: float = 0.05) -> None:
        self.count = count
        self.rng = random.Random(seed)
        self.kinds: Counter[str] = Counter()
        self._history: list[Sent] = []
        self._customers = [self._customer(i) for i in range(max(20, count // 5))]
        dups = round(count * dup_share) if count > 1 else 0
        slots = self.rng.sample(range(1, count), dups) if dups else []
        # Each duplicate slot repeats an earlier unique slot's bytes.
        self._dup_of: dict[int, int] = {}
        for slot in sorted(slots):
            source = self.rng.randrange(slot)
            while source in self._dup_of:
                source = self._dup_of[source]
            self._dup_of[slot] = source
        self._needed = set(self._dup_of.values())

    def __iter__(self) -> Iterator[bytes]:
        kinds, weights = zip(*KINDS.items(), strict=True)
        kept: dict[int, bytes] = {}
        for slot in range(self.count):
            if slot in self._dup_of:
                self.kinds["duplicate"] += 1
                yield kept[self._dup_of[slot]]
                continue
            kind = self.rng.choices(kinds, weights)[0]
            if kind == "reply" and not self._history:
                kind = "plain"
            raw = self._make(kind, slot)
            self.kinds[kind] += 1
            if slot in self._needed:
                kept[slot] = raw
            yield raw

    # -- building blocks ---------------------------------------------------------------------

    def _customer(self, i: int) -> tuple[str, str]:
        pool = FIRST_ACCENTED if i % 7 == 0 else FIRST
        first, last = self.rng.choice(pool), self.rng.choice(LAST)
        local = f"{first.lower().encode('ascii', 'ignore').decode()}.{last.lower()}{i}"
        return f"{first} {last}", f"{local}@{self.rng.choice(DOMAINS)}"

    def _fill(self, text: str) -> str:
        return text.format(n=self.rng.randint(1000, 99999), d=self.rng.randint(1, 28))

    def _topic(self, table: list[tuple[str, list[str]]]) -> tuple[str, list[str]]:
        subject, lines = self.rng.choice(table)
        picked = self.rng.sample(lines, self.rng.randint(2, len(lines)))
        return self._fill(subject), [self._fill(line) for line in picked]

    def _base(self, slot: int, name: str, sender: str, subject: str | None) -> EmailMessage:
        msg = EmailMessage()
        date = START + timedelta(minutes=7 * slot + self.rng.randint(0, 6))
        msg["From"] = formataddr((name, sender))
        msg["To"] = SUPPORT
        if subject is not None:
            msg["Subject"] = subject
        msg["Date"] = format_datetime(date)
        msg["Message-ID"] = f"<{slot}.{self.rng.getrandbits(48):012x}@{sender.split('@')[1]}>"
        return msg

    def _remember(self, msg: EmailMessage, subject: str, lines: list[str]) -> None:
        name, sender = _split_from(msg)
        date = msg["Date"].datetime
        self._history.append(
            Sent(str(msg["Message-ID"]), sender, name, subject, tuple(lines), date)
        )

    @staticmethod
    def _signed(lines: list[str], name: str) -> str:
        return "Hello,\n\n" + "\n".join(lines) + f"\n\nBest regards,\n{name}\n"

    @staticmethod
    def _html(lines: list[str], name: str) -> str:
        paragraphs = "".join(f"<p>{line}</p>" for line in lines)
        return (
            "<html><head><style>p{font-family:Arial}</style></head><body>"
            f"<div>Hello,</div>{paragraphs}<div>Best regards,<br><b>{name}</b></div>"
            "</body></html>\n"
        )

    def _bytes(self, msg: EmailMessage) -> bytes:
        """CRLF bytes. Boundaries come from our generator: the `email` package would draw
        them from the global `random`, which would make the output differ run to run."""
        for part in msg.walk():
            if part.get_content_maintype() == "multipart" and part.get_boundary() is None:
                part.set_boundary(f"==={self.rng.getrandbits(64):016x}==")
        return msg.as_bytes(policy=policy.SMTP)

    # -- kinds -------------------------------------------------------------------------------

    def _make(self, kind: str, slot: int) -> bytes:
        name, sender = self.rng.choice(self._customers)
        make = getattr(self, f"_make_{kind}")
        result: bytes = make(slot, name, sender)
        return result

    def _make_plain(self, slot: int, name: str, sender: str) -> bytes:
        subject, lines = self._topic(TOPICS)
        msg = self._base(slot, name, sender, subject)
        msg.set_content(self._signed(lines, name))
        self._remember(msg, subject, lines)
        return self._bytes(msg)

    def _make_html(self, slot: int, name: str, sender: str) -> bytes:
        subject, lines = self._topic(TOPICS)
        msg = self._base(slot, name, sender, subject)
        msg.set_content(self._html(lines, name), subtype="html")
        self._remember(msg, subject, lines)
        return self._bytes(msg)

    def _make_alternative(self, slot: int, name: str, sender: str) -> bytes:
        subject, lines = self._topic(TOPICS)
        msg = self._base(slot, name, sender, subject)
        msg.set_content(self._signed(lines, name))
        msg.add_alternative(self._html(lines, name), subtype="html")
        self._remember(msg, subject, lines)
        return self._bytes(msg)

    def _make_attachment(self, slot: int, name: str, sender: str) -> bytes:
        subject, lines = self._topic(TOPICS)
        msg = self._base(slot, name, sender, subject)
        msg.set_content(self._signed([*lines, "Please see the attached file."], name))
        if self.rng.random() < 0.4:
            msg.add_alternative(self._html(lines, name), subtype="html")
        for _ in range(1 if self.rng.random() < 0.75 else 2):
            maintype, subtype, filename = self.rng.choice(ATTACHMENTS)
            # Log-uniform between 2 KB and 200 KB: mostly small files, a few large ones.
            size = int(math.exp(self.rng.uniform(math.log(2_000), math.log(200_000))))
            filename = self._fill(filename)
            if maintype == "text":
                rows = [f"{i},{self.rng.randint(0, 10**6)},item {i}" for i in range(size // 20)]
                msg.add_attachment("id,amount,label\n" + "\n".join(rows), filename=filename)
            else:
                data = self.rng.randbytes(size)
                msg.add_attachment(data, maintype, subtype, filename=filename)
        self._remember(msg, subject, lines)
        return self._bytes(msg)

    def _make_latin1(self, slot: int, name: str, sender: str) -> bytes:
        subject, lines = self._topic(self.rng.choice([GERMAN, FRENCH]))
        msg = self._base(slot, name, sender, None)
        msg.set_content("\n".join(lines) + f"\n\n{name}\n", charset="iso-8859-1", cte="8bit")
        self._remember(msg, subject, lines)
        return _with_subject(self._bytes(msg), subject, "iso-8859-1")

    def _make_cp1252(self, slot: int, name: str, sender: str) -> bytes:
        subject, lines = self._topic(TOPICS)
        lines = [*lines, self._fill(self.rng.choice(CP1252_LINES))]
        msg = self._base(slot, name, sender, subject)
        msg.set_content(self._signed(lines, name), charset="windows-1252", cte="8bit")
        self._remember(msg, subject, lines)
        return self._bytes(msg)

    def _make_encoded_subject(self, slot: int, name: str, sender: str) -> bytes:
        template, charset = self.rng.choice(ENCODED_SUBJECTS)
        subject = self._fill(template)
        _, lines = self._topic(TOPICS)
        msg = self._base(slot, name, sender, None)
        cte = self.rng.choice(["8bit", "quoted-printable", "base64"])
        msg.set_content(self._signed([subject, *lines], name), charset="utf-8", cte=cte)
        self._remember(msg, subject, lines)
        return _with_subject(self._bytes(msg), subject, charset)

    def _make_reply(self, slot: int, name: str, sender: str) -> bytes:
        # Mostly recent threads, now and then an old one.
        history = self._history
        earlier = history[-self.rng.randint(1, min(len(history), 40))]
        if self.rng.random() < 0.1:
            earlier = self.rng.choice(history)
        subject = earlier.subject
        if not subject.lower().startswith(("re:", "aw:")):
            subject = f"Re: {subject}"
        msg = self._base(slot, earlier.name, earlier.sender, subject)
        msg["In-Reply-To"] = earlier.message_id
        msg["References"] = earlier.message_id
        news = self.rng.choice(
            [
                "Any news on this? I still have not heard back.",
                "Thanks, but the problem is still there.",
                "Following up again — please answer, this is getting urgent!",
                "Thank you, that solved it.",
            ]
        )
        when = format_datetime(earlier.date)
        quoted = "\n".join(f"> {line}" for line in earlier.lines)
        attribution = f"On {when}, {earlier.name} <{earlier.sender}> wrote:"
        msg.set_content(f"{news}\n\n{earlier.name}\n\n{attribution}\n{quoted}\n")
        self._remember(msg, subject, [news])
        return self._bytes(msg)

    def _make_auto_reply(self, slot: int, name: str, sender: str) -> bytes:
        subject = self.rng.choice(
            ["Out of office", "Automatic reply: Your request", "Abwesenheitsnotiz"]
        )
        msg = self._base(slot, name, sender, subject)
        msg["Auto-Submitted"] = "auto-replied"
        if self.rng.random() < 0.5:
            msg["X-Autoreply"] = "yes"
        msg["In-Reply-To"] = f"<reply.{self.rng.getrandbits(40):010x}@supportbot.invalid>"
        msg.set_content(
            f"I am out of the office until {self._fill('the {d}th')} with limited access to "
            f"email.\nFor urgent matters please contact my colleague.\n\n{name}\n"
        )
        return self._bytes(msg)

    def _make_bounce(self, slot: int, name: str, sender: str) -> bytes:
        recipient = sender
        daemon = "MAILER-DAEMON@mx.example.net"
        msg = self._base(
            slot, "Mail Delivery System", daemon, "Undelivered Mail Returned to Sender"
        )
        msg["Auto-Submitted"] = "auto-replied"
        msg.set_content(
            "This is the mail system at host mx.example.net.\n\n"
            "I'm sorry to have to inform you that your message could not\n"
            "be delivered to one or more recipients.\n\n"
            f"<{recipient}>: host mx.{recipient.split('@')[1]} said: 550 5.1.1 "
            "User unknown\n"
        )
        msg.make_mixed()
        msg.set_type("multipart/report")
        msg.set_param("report-type", "delivery-status")
        per_message = EmailMessage()
        per_message["Reporting-MTA"] = "dns; mx.example.net"
        per_message["Arrival-Date"] = msg["Date"]
        per_recipient = EmailMessage()
        per_recipient["Final-Recipient"] = f"rfc822; {recipient}"
        per_recipient["Action"] = "failed"
        per_recipient["Status"] = "5.1.1"
        per_recipient["Diagnostic-Code"] = "smtp; 550 5.1.1 User unknown"
        status = EmailMessage()
        status["Content-Type"] = "message/delivery-status"
        status.set_payload([per_message, per_recipient])
        msg.attach(status)
        original = EmailMessage()
        original["From"] = SUPPORT
        original["To"] = recipient
        original["Subject"] = "Re: your request"
        original["Message-ID"] = f"<reply.{self.rng.getrandbits(40):010x}@supportbot.invalid>"
        original.set_content("Thank you for your message. We are looking into it.\n")
        returned = EmailMessage()
        returned.set_content(original)  # message/rfc822
        msg.attach(returned)
        return self._bytes(msg)

    def _make_list(self, slot: int, name: str, sender: str) -> bytes:
        lists = ["announce.vendor.example", "users.project.example", "news.shop.example"]
        list_id = self.rng.choice(lists)
        msg = self._base(slot, "Vendor News", f"news@{list_id}", self._fill("Newsletter #{d}"))
        msg["List-Id"] = f"<{list_id}>"
        msg["List-Unsubscribe"] = f"<mailto:unsubscribe@{list_id}>"
        msg["Precedence"] = "list" if self.rng.random() < 0.5 else "bulk"
        lines = [self._fill("Our release {n} is out with many improvements.") for _ in range(4)]
        msg.set_content("\n\n".join(lines) + "\n")
        msg.add_alternative(self._html(lines, "Vendor News"), subtype="html")
        return self._bytes(msg)


def _split_from(msg: EmailMessage) -> tuple[str, str]:
    address = msg["From"].addresses[0]
    return address.display_name, address.addr_spec


def _with_subject(raw: bytes, subject: str, charset: str) -> bytes:
    """Prepend a Subject encoded in `charset` (RFC 2047). `EmailMessage` would re-encode any
    subject as UTF-8; real mail also carries ISO-8859-1 encoded words."""
    encoded = Header(subject, charset, header_name="Subject").encode(linesep="\r\n")
    return b"Subject: " + encoded.encode("ascii") + b"\r\n" + raw
