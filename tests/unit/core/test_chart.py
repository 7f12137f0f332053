"""The digest's PNG chart, decoded by hand: signature, chunk CRCs, IHDR, scanline filters,
and pixels that follow the data."""

from __future__ import annotations

import struct
import zlib
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from core.chart import (
    BACKLOG,
    BREACH,
    NEW,
    PNG_SIGNATURE,
    DayPoint,
    Layout,
    draw_history,
    encode_png,
)
from core.digest import daily_history
from core.model import Channel, Ticket, TicketStatus

Rgb = tuple[int, int, int]


def _decode(png: bytes) -> tuple[int, int, list[list[Rgb]]]:
    """A minimal PNG reader for what encode_png writes; checks every chunk's CRC."""
    assert png[:8] == PNG_SIGNATURE
    offset, chunks = 8, []
    while offset < len(png):
        (length,) = struct.unpack(">I", png[offset : offset + 4])
        kind = png[offset + 4 : offset + 8]
        data = png[offset + 8 : offset + 8 + length]
        (crc,) = struct.unpack(">I", png[offset + 8 + length : offset + 12 + length])
        assert crc == zlib.crc32(kind + data) & 0xFFFFFFFF, kind
        chunks.append((kind, data))
        offset += 12 + length
    assert chunks[0][0] == b"IHDR" and chunks[-1] == (b"IEND", b"")
    width, height, depth, colour, compression, filtering, interlace = struct.unpack(
        ">IIBBBBB", chunks[0][1]
    )
    assert (depth, colour, compression, filtering, interlace) == (8, 2, 0, 0, 0)
    raw = zlib.decompress(b"".join(d for k, d in chunks if k == b"IDAT"))
    stride = 1 + width * 3
    assert len(raw) == height * stride
    rows = []
    for y in range(height):
        line = raw[y * stride : (y + 1) * stride]
        assert line[0] == 0  # filter type None
        rows.append([(line[1 + 3 * x], line[2 + 3 * x], line[3 + 3 * x]) for x in range(width)])
    return width, height, rows


def test_a_tiny_image_round_trips() -> None:
    pixels = bytes([255, 0, 0, 0, 255, 0, 0, 0, 255, 10, 20, 30])
    assert _decode(encode_png(2, 2, pixels)) == (
        2,
        2,
        [[(255, 0, 0), (0, 255, 0)], [(0, 0, 255), (10, 20, 30)]],
    )


def _points(new: list[int], breaches: list[int] | None = None) -> list[DayPoint]:
    first = date(2026, 11, 10)
    return [
        DayPoint(first + timedelta(days=n), v, backlog=5, breaches=(breaches or [0] * 14)[n])
        for n, v in enumerate(new)
    ]


def _column_height(rows: list[list[Rgb]], x: int, colour: Rgb) -> int:
    return sum(1 for row in rows if row[x] == colour)


def test_the_chart_decodes_and_its_bars_follow_the_data() -> None:
    layout = Layout()
    low = _points([1] * 14)
    high = _points([1] * 13 + [9], breaches=[0] * 13 + [3])
    w, h, rows_low = _decode(draw_history(low, layout))
    assert (w, h) == (layout.width, layout.height)
    _, _, rows_high = _decode(draw_history(high, layout))
    slot = layout.slot(14)
    last = layout.left + 13 * slot + slot // 2  # the last day's centre
    new_x, breach_x = last - 2, last + 2
    # Day 14 has 9 new tickets against 1 (scaled to a peak of 9 against a peak of 5).
    assert _column_height(rows_high, new_x, NEW) > 4 * _column_height(rows_low, new_x, NEW) > 0
    assert _column_height(rows_low, breach_x, BREACH) == 0
    assert _column_height(rows_high, breach_x, BREACH) > 0
    # Same heights on days with the same value in the same chart.
    first = layout.left + slot // 2 - 2
    assert _column_height(rows_low, first, NEW) == _column_height(rows_low, new_x, NEW)
    # The backlog line is drawn, and the axis labels are there (some grey pixels left of it).
    assert any(BACKLOG in row for row in rows_low)
    assert any(px != (255, 255, 255) for row in rows_low for px in row[: layout.left - 4])


def test_an_empty_history_still_draws_axes() -> None:
    w, h, rows = _decode(draw_history([]))
    assert (w, h) == (Layout().width, Layout().height)
    assert not any(NEW in row for row in rows)


def test_daily_history_counts_new_backlog_and_breaches_per_day() -> None:
    end = datetime(2026, 11, 24, 7, 0, tzinfo=UTC)

    def ticket(n: int, created: datetime, **fields: object) -> Ticket:
        return Ticket(
            **{  # type: ignore[arg-type]
                "subject": f"t{n}",
                "customer_id": 1,
                "channel": Channel.EMAIL,
                "created_at": created,
                "updated_at": created,
                "id": n,
                "ref": f"T{n}",
                **fields,
            }
        )

    day = timedelta(days=1)
    tickets = [
        # Created 2.5 days before end, resolved 1.5 days before: open at the end of day -3.
        ticket(1, end - 2.5 * day, status=TicketStatus.RESOLVED, resolved_at=end - 1.5 * day),
        # Created in the last day, first response overdue and not given.
        ticket(2, end - 0.5 * day, first_response_due=end - 0.25 * day),
    ]
    points = daily_history(tickets, end=end, zone=ZoneInfo("Europe/Berlin"), days=3)
    assert [(p.day, p.new, p.backlog, p.breaches) for p in points] == [
        (date(2026, 11, 21), 1, 1, 0),
        (date(2026, 11, 22), 0, 0, 0),
        (date(2026, 11, 23), 1, 1, 1),
    ]
