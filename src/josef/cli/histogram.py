"""A latency histogram drawn as a PNG with nothing but zlib and struct (no plotting library)."""

from __future__ import annotations

import math
import struct
import zlib
from collections.abc import Sequence
from typing import Any

# A 3x5 pixel font: five rows of three bits per glyph.
_GLYPHS = {
    "0": "111101101101111", "1": "010110010010111", "2": "111001111100111", "3": "111001111001111",
    "4": "101101111001001", "5": "111100111001111", "6": "111100111101111", "7": "111001001010010",
    "8": "111101111101111", "9": "111101111001111", ".": "000000000000010", " ": "000000000000000",
    "-": "000000111000000", "(": "010100100100010", ")": "010001001001010", "/": "001001010100100",
    "%": "101001010100101", ":": "000010000010000", "=": "000111000111000", ",": "000000000010100",
    ">": "100010001010100", "A": "010101111101101", "B": "110101110101110", "C": "011100100100011",
    "D": "110101101101110", "E": "111100110100111", "F": "111100110100100", "G": "011100101101011",
    "H": "101101111101101", "I": "111010010010111", "J": "001001001101010", "K": "101101110101101",
    "L": "100100100100111", "M": "101111111101101", "N": "110101101101101", "O": "010101101101010",
    "P": "110101110100100", "Q": "010101101110011", "R": "110101110101101", "S": "011100010001110",
    "T": "111010010010010", "U": "101101101101111", "V": "101101101101010", "W": "101101111111101",
    "X": "101101010101101", "Y": "101101010010010", "Z": "111001010100111",
}


class Canvas:
    def __init__(self, width: int, height: int) -> None:
        self.width, self.height = width, height
        self.pixels = bytearray(b"\xff" * (width * height * 3))

    def rect(self, x0: int, y0: int, x1: int, y1: int, color: tuple[int, int, int]) -> None:
        x0, x1 = max(0, min(x0, x1)), min(self.width, max(x0, x1))
        y0, y1 = max(0, min(y0, y1)), min(self.height, max(y0, y1))
        if x0 >= x1:
            return
        row = bytes(color) * (x1 - x0)
        for y in range(y0, y1):
            start = (y * self.width + x0) * 3
            self.pixels[start : start + len(row)] = row

    def text(self, x: int, y: int, text: str, color: tuple[int, int, int] = (0, 0, 0), scale: int = 2,
             align: str = "left") -> None:
        width = len(text) * 4 * scale
        if align == "center":
            x -= width // 2
        elif align == "right":
            x -= width
        for ch in text.upper():
            glyph = _GLYPHS.get(ch, _GLYPHS[" "])
            for i, bit in enumerate(glyph):
                if bit == "1":
                    gx, gy = x + (i % 3) * scale, y + (i // 3) * scale
                    self.rect(gx, gy, gx + scale, gy + scale, color)
            x += 4 * scale

    def png(self) -> bytes:
        """The canvas as an 8-bit RGB PNG: signature, IHDR, one zlib IDAT (filter 0 rows), IEND."""
        stride = self.width * 3
        raw = b"".join(b"\x00" + self.pixels[y * stride : (y + 1) * stride] for y in range(self.height))

        def chunk(kind: bytes, data: bytes) -> bytes:
            return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

        header = struct.pack(">IIBBBBB", self.width, self.height, 8, 2, 0, 0, 0)
        return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw, 9))
                + chunk(b"IEND", b""))


def _nice_ceiling(value: float) -> float:
    if value <= 0:
        return 1.0
    magnitude = 10.0 ** math.floor(math.log10(value))
    for step in (1, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10):
        if value <= step * magnitude:
            return step * magnitude
    return 10.0 * magnitude


def _label(value: float) -> str:
    return f"{value:.0f}" if value >= 10 or value == int(value) else f"{value:.2g}"


def render_histogram(latencies: Sequence[float], result: dict[str, Any]) -> bytes:
    """A bar chart of the sampled latencies up to the 99.9th percentile (slower ones in the last bar),
    with the 50th/99th percentiles marked."""
    width, height = 900, 460
    left, right, top, bottom = 90, 30, 70, 70
    canvas = Canvas(width, height)
    plot_w, plot_h = width - left - right, height - top - bottom
    pcts = list(result["percentiles_ms"].values())
    ordered = sorted(latencies)
    upper = _nice_ceiling(max(pcts[-1], ordered[-1] * 0.01 if ordered else 0.0, 0.001))
    bins = 60
    counts = [0] * bins
    for latency in ordered:
        counts[min(int(latency / upper * bins), bins - 1)] += 1
    top_count = _nice_ceiling(max(counts) if counts else 1)
    canvas.text(width // 2, 18, f"JOSEF PERF: LATENCY OF {len(ordered):_} SAMPLED RECORDS".replace("_", " "),
                scale=3, align="center")
    canvas.text(width // 2, 46,
                f"{result['records']:_} RECORDS  {result['records_per_sec']:_.0f} RECORDS/S  "
                f"AVG {result['avg_latency_ms']:.2f} MS  MAX {result['max_latency_ms']:.1f} MS".replace("_", " "),
                color=(80, 80, 80), align="center")
    grey, axis = (225, 225, 225), (0, 0, 0)
    for i in range(5):  # horizontal grid and count labels
        y = top + plot_h - plot_h * i // 4
        canvas.rect(left, y, left + plot_w, y + 1, grey)
        canvas.text(left - 8, y - 5, f"{top_count * i / 4:_.0f}".replace("_", " "), align="right")
    bar_w = plot_w / bins
    for i, n in enumerate(counts):
        if n:
            h = max(1, round(plot_h * n / top_count))
            x0 = left + round(i * bar_w)
            x1 = left + round((i + 1) * bar_w) - 1
            canvas.rect(x0, top + plot_h - h, max(x1, x0 + 1), top + plot_h, (52, 101, 164))
    for p, value, color in (("P50", pcts[0], (0, 140, 60)), ("P99", pcts[2], (200, 40, 40))):
        x = left + min(round(plot_w * value / upper), plot_w - 1)
        canvas.rect(x, top, x + 2, top + plot_h, color)
        canvas.text(x + 5, top + 4 + (0 if p == "P50" else 14), f"{p} {value:.2f} MS", color=color)
    canvas.rect(left, top + plot_h, left + plot_w, top + plot_h + 2, axis)
    canvas.rect(left - 2, top, left, top + plot_h + 2, axis)
    for i in range(5):  # x ticks
        x = left + plot_w * i // 4
        canvas.rect(x, top + plot_h, x + 1, top + plot_h + 6, axis)
        label = _label(upper * i / 4) + (" OR MORE" if i == 4 else "")
        canvas.text(x, top + plot_h + 12, label, align="center" if i < 4 else "right")
    canvas.text(left + plot_w // 2, height - 26, "LATENCY (MS), SEND TO ACKNOWLEDGEMENT", align="center")
    canvas.text(8, top - 20, "RECORDS")
    return canvas.png()
