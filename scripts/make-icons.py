#!/usr/bin/env python3
"""Draws the app icons (public/icons/*.png) with the standard library only: re-run after changing the design.

The design: an iButton (a ring) with a lightning bolt, white on the theme colour. Everything that matters
stays inside the central 80 % circle, so the same file is a valid maskable icon.
"""
import struct
import zlib
from pathlib import Path

THEME = (0x0B, 0x5D, 0x4B)
WHITE = (255, 255, 255)
BOLT = [(0.56, 0.22), (0.36, 0.53), (0.49, 0.53), (0.44, 0.78), (0.65, 0.45), (0.52, 0.45), (0.58, 0.22)]


def inside(poly, x, y):
    hit = False
    for (x1, y1), (x2, y2) in zip(poly, poly[1:] + poly[:1]):
        if (y1 > y) != (y2 > y) and x < (x2 - x1) * (y - y1) / (y2 - y1) + x1:
            hit = not hit
    return hit


def pixel(u, v):
    r = ((u - 0.5) ** 2 + (v - 0.5) ** 2) ** 0.5
    if 0.30 <= r <= 0.36 or inside(BOLT, u, v):
        return WHITE
    return THEME


def png(size, path):
    ss = 3  # supersampling for smooth edges
    rows = []
    for y in range(size):
        row = bytearray([0])
        for x in range(size):
            acc = [0, 0, 0]
            for sy in range(ss):
                for sx in range(ss):
                    c = pixel((x + (sx + 0.5) / ss) / size, (y + (sy + 0.5) / ss) / size)
                    acc = [a + b for a, b in zip(acc, c)]
            row += bytes(a // (ss * ss) for a in acc)
        rows.append(bytes(row))
    raw = b"".join(rows)

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    out = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", size, size, 8, 2, 0, 0, 0))
    out += chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b"")
    Path(path).write_bytes(out)


if __name__ == "__main__":
    base = Path(__file__).resolve().parent.parent / "public" / "icons"
    base.mkdir(parents=True, exist_ok=True)
    for size, name in [(192, "icon-192.png"), (512, "icon-512.png"), (180, "apple-touch-icon.png")]:
        png(size, base / name)
