"""Opaque cursors of `GET /api/tickets`: a ticket's place in a sort order, as URL-safe text.

A cursor is base64url (unpadded) of a JSON list `[version, sort, order, value, id]`: the
last ticket's sort value and id. Clients only hand back the `next_cursor` they were given;
the layout may change with the version, and a cursor of another version is refused like
any other malformed one. Nothing in it is secret: it names a ticket the client has seen.
"""

from __future__ import annotations

import base64
import binascii
import json
from datetime import datetime

from core.model import Priority, TicketPosition, TicketSort

VERSION = 1
MAX_LENGTH = 200  # the longest real one (a timestamp and a ten-digit id) is under 100
_SORTS = frozenset(sort.value for sort in TicketSort)
_PRIORITIES = frozenset(priority.value for priority in Priority)


class BadCursor(ValueError):
    """The text is no cursor of ours; its message says why, for the 422."""


def encode_cursor(position: TicketPosition) -> str:
    value = position.value.isoformat() if isinstance(position.value, datetime) else position.value
    order = "desc" if position.descending else "asc"
    fields = [VERSION, position.sort.value, order, value, position.ticket_id]
    packed = json.dumps(fields, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(packed).rstrip(b"=").decode("ascii")


def decode_cursor(text: str, *, id_max: int) -> TicketPosition:
    """The place `text` names; BadCursor unless it is exactly what `encode_cursor` makes."""
    try:
        packed = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        fields = json.loads(packed)
    except (binascii.Error, ValueError):  # UnicodeDecodeError and JSONDecodeError too
        raise BadCursor("not a cursor from next_cursor") from None
    if not isinstance(fields, list) or len(fields) != 5 or fields[0] != VERSION:
        raise BadCursor("not a cursor from next_cursor (or one of an older version)")
    _, sort, order, value, ticket_id = fields
    if not isinstance(sort, str) or sort not in _SORTS or order not in ("asc", "desc"):
        raise BadCursor("names no sort order of this listing")
    if type(ticket_id) is not int or not 1 <= ticket_id <= id_max:
        raise BadCursor("names no ticket")
    return TicketPosition(TicketSort(sort), order == "desc", _read_value(sort, value), ticket_id)


def _read_value(sort: str, value: object) -> datetime | str | None:
    """The sort value as the column holds it: a priority's name or an aware timestamp."""
    if value is None and sort != TicketSort.PRIORITY.value:
        return None  # due times can be empty; NULLs sort last
    if sort == TicketSort.PRIORITY.value:
        if not isinstance(value, str) or value not in _PRIORITIES:
            raise BadCursor("holds no priority")
        return str(value)
    if isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            moment = None
        if moment is not None and moment.tzinfo is not None:
            return moment
    raise BadCursor("holds no time stamp")
