"""The digest's 14-day chart as a PNG, with nothing but `zlib` and `struct`.

`encode_png` writes 8-bit RGB with filter type 0 on every scanline (PNG spec §4–§7,
https://www.w3.org/TR/png-3/): the signature, IHDR, one zlib-compressed IDAT and IEND, each
chunk with its CRC-32 over type and data. `draw_history` draws per day a bar for new tickets
(blue) and one for breaches (red) side by side, the backlog as a dark line through the days,
and labels the y axis (0, half, max) and each day's day of month with a 5×7 digit font.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from itertools import pairwise

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

Rgb = tuple[int, int, int]
WHITE: Rgb = (255, 255, 255)
AXIS: Rgb = (120, 120, 120)
GRID: Rgb = (225, 225, 225)
NEW: Rgb = (66, 133, 244)
BREACH: Rgb = (219, 68, 55)
BACKLOG: Rgb = (40, 40, 40)

# 5×7 digits, one string of five "#"/"." per row.
_DIGITS = {
    "0": ".###.|#...#|#..##|#.#.#|##..#|#...#|.###.",
    "1": "..#..|.##..|..#..|..#..|..#..|..#..|.###.",
    "2": ".###.|#...#|....#|...#.|..#..|.#...|#####",
    "3": "####.|....#|....#|.###.|....#|....#|####.",
    "4": "...#.|..##.|.#.#.|#..#.|#####|...#.|...#.",
    "5": "#####|#....|####.|....#|....#|#...#|.###.",
    "6": "..##.|.#...|#....|####.|#...#|#...#|.###.",
    "7": "#####|....#|...#.|..#..|.#...|.#...|.#...",
    "8": ".###.|#...#|#...#|.###.|#...#|#...#|.###.",
    "9": ".###.|#...#|#...#|.####|....#|...#.|.##..",
}
_GLYPH_W, _GLYPH_H = 5, 7


@dataclass(frozen=True)
class DayPoint:
    """One day of the chart: tickets created, open at the day's end, SLA breaches."""

    day: date
    new: int
    backlog: int
    breaches: int


def encode_png(width: int, height: int, pixels: bytes | bytearray) -> bytes:
    """`pixels`: width × height RGB triples, row by row from the top."""
    if width <= 0 or height <= 0 or len(pixels) != width * height * 3:
        raise ValueError("pixels must hold width × height RGB triples")
    stride = width * 3
    raw = b"".join(
        b"\x00" + bytes(pixels[row * stride : (row + 1) * stride]) for row in range(height)
    )
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8-bit RGB, no interlace
    return (
        PNG_SIGNATURE
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", zlib.compress(raw, 9))
        + _chunk(b"IEND", b"")
    )


def _chunk(kind: bytes, data: bytes) -> bytes:
    crc = zlib.crc32(kind + data) & 0xFFFFFFFF
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)


class Canvas:
    """An RGB raster with the few drawing operations the chart needs; clips at the edges."""

    def __init__(self, width: int, height: int, background: Rgb = WHITE) -> None:
        self.width, self.height = width, height
        self.pixels = bytearray(bytes(background) * (width * height))

    def set(self, x: int, y: int, color: Rgb) -> None:
        if 0 <= x < self.width and 0 <= y < self.height:
            i = (y * self.width + x) * 3
            self.pixels[i : i + 3] = bytes(color)

    def get(self, x: int, y: int) -> Rgb:
        i = (y * self.width + x) * 3
        r, g, b = self.pixels[i : i + 3]
        return (r, g, b)

    def rect(self, x0: int, y0: int, x1: int, y1: int, color: Rgb) -> None:
        """Fill [x0, x1] × [y0, y1], corners in any order."""
        for y in range(min(y0, y1), max(y0, y1) + 1):
            for x in range(min(x0, x1), max(x0, x1) + 1):
                self.set(x, y, color)

    def line(self, x0: int, y0: int, x1: int, y1: int, color: Rgb, *, width: int = 1) -> None:
        """Bresenham's line, `width` pixels thick (a square brush)."""
        dx, dy = abs(x1 - x0), -abs(y1 - y0)
        sx, sy = (1 if x0 < x1 else -1), (1 if y0 < y1 else -1)
        err = dx + dy
        half = width // 2
        while True:
            self.rect(x0 - half, y0 - half, x0 - half + width - 1, y0 - half + width - 1, color)
            if x0 == x1 and y0 == y1:
                return
            e2 = 2 * err
            if e2 >= dy:
                err += dy
                x0 += sx
            if e2 <= dx:
                err += dx
                y0 += sy

    def text(self, x: int, y: int, digits: str, color: Rgb, *, scale: int = 1) -> None:
        """Digits with their top-left corner at (x, y); other characters leave a gap."""
        for n, char in enumerate(digits):
            rows = _DIGITS.get(char)
            if rows is not None:
                for gy, row in enumerate(rows.split("|")):
                    for gx, bit in enumerate(row):
                        if bit == "#":
                            left = x + n * (_GLYPH_W + 1) * scale + gx * scale
                            top = y + gy * scale
                            self.rect(left, top, left + scale - 1, top + scale - 1, color)

    def png(self) -> bytes:
        return encode_png(self.width, self.height, self.pixels)


def text_width(digits: str, *, scale: int = 1) -> int:
    return max(0, len(digits) * (_GLYPH_W + 1) * scale - scale)


@dataclass(frozen=True)
class Layout:
    width: int = 640
    height: int = 240
    left: int = 48  # room for the y labels
    right: int = 12
    top: int = 12
    bottom: int = 28  # room for the day labels
    scale: int = 2  # of the 5×7 font

    @property
    def plot_height(self) -> int:
        return self.height - self.top - self.bottom

    def slot(self, days: int) -> int:
        return (self.width - self.left - self.right) // max(days, 1)


def draw_history(points: Sequence[DayPoint], layout: Layout = Layout()) -> bytes:
    """The chart as PNG bytes; an empty history gives the empty axes."""
    canvas = Canvas(layout.width, layout.height)
    peak = max([1, *(max(p.new, p.backlog, p.breaches) for p in points)])
    base = layout.top + layout.plot_height  # the y of value 0

    def y_of(value: int) -> int:
        return base - round(value * layout.plot_height / peak)

    for value in sorted({0, peak // 2, peak}):
        y = y_of(value)
        canvas.line(layout.left, y, layout.width - layout.right, y, GRID)
        label = str(value)
        glyph_h = _GLYPH_H * layout.scale
        lx = layout.left - 6 - text_width(label, scale=layout.scale)
        canvas.text(lx, max(0, y - glyph_h // 2), label, AXIS, scale=layout.scale)
    canvas.line(layout.left, layout.top, layout.left, base, AXIS)
    canvas.line(layout.left, base, layout.width - layout.right, base, AXIS)

    slot = layout.slot(len(points))
    bar = max(2, slot // 3)
    centres: list[tuple[int, int]] = []
    for n, point in enumerate(points):
        x = layout.left + n * slot + slot // 2
        if point.new:
            canvas.rect(x - bar, y_of(point.new), x - 1, base - 1, NEW)
        if point.breaches:
            canvas.rect(x + 1, y_of(point.breaches), x + bar // 2 + 1, base - 1, BREACH)
        centres.append((x, y_of(point.backlog)))
        label = str(point.day.day)
        lx = x - text_width(label, scale=layout.scale) // 2
        canvas.text(lx, base + 6, label, AXIS, scale=layout.scale)
    for (x0, y0), (x1, y1) in pairwise(centres):
        canvas.line(x0, y0, x1, y1, BACKLOG, width=2)
    for x, y in centres:
        canvas.rect(x - 2, y - 2, x + 2, y + 2, BACKLOG)
    return canvas.png()
