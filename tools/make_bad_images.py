#!/usr/bin/python3
"""Regenerates fixtures/bad_images/: malformed calibration images, each paired
in EXPECTED.tsv with a fragment of the one-line error the decoder must give.

Every file is also opened with Pillow (an independent decoder) and must be
refused by it too, so each one is really malformed (or, for the size cases,
really absurd).  Run with Debian's python3:  /usr/bin/python3 tools/make_bad_images.py
"""
import io
import os
import struct
import sys
import warnings
import zlib

from PIL import Image

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures", "bad_images")


def good_jpeg():
    img = Image.new("RGB", (32, 24))
    for y in range(24):
        for x in range(32):
            img.putpixel((x, y), (x * 8, y * 10, (x * y) % 256))
    b = io.BytesIO()
    img.save(b, "JPEG", quality=90)
    return b.getvalue()


def good_png():
    img = Image.open(io.BytesIO(good_jpeg()))
    b = io.BytesIO()
    img.save(b, "PNG")
    return b.getvalue()


def png_chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def png_with_ihdr(w, h, depth=8, ctype=2, idat=True):
    raw = b"".join(b"\0" + b"\x80" * (3 * max(w, 0)) for _ in range(min(max(h, 0), 4)))
    out = b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, depth, ctype, 0, 0, 0))
    if idat:
        out += png_chunk(b"IDAT", zlib.compress(raw))
    return out + png_chunk(b"IEND", b"")


def jpeg_with_size(data, w, h):
    """Rewrites the frame header (SOF0/SOF2) to claim w x h."""
    b = bytearray(data)
    i = 2
    while i < len(b):
        marker, seglen = b[i + 1], struct.unpack(">H", b[i + 2:i + 4])[0]
        if marker in (0xC0, 0xC2):
            b[i + 5:i + 9] = struct.pack(">HH", h, w)
            return bytes(b)
        i += 2 + seglen
    raise ValueError("no SOF")


def pillow_refuses(data):
    Image.MAX_IMAGE_PIXELS = 1 << 28  # the decoder's own default pixel cap
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            Image.open(io.BytesIO(data)).load()
    except Exception:  # any refusal: format error, truncation, decompression bomb
        return True
    return False


def main():
    os.makedirs(OUT, exist_ok=True)
    jpg, png = good_jpeg(), good_png()
    cases = []

    def save(name, data, expect):
        if not pillow_refuses(data):
            sys.exit("%s: Pillow accepts it, so it is not a malformed image" % name)
        with open(os.path.join(OUT, name), "wb") as f:
            f.write(data)
        cases.append((name, expect))

    save("jpg_soi_only.jpg", b"\xff\xd8", "JPEG")
    # Cut before the frame header: libjpeg-turbo then reports a 0x0 image.
    save("jpg_header_only.jpg", jpg[:40], "empty size")
    save("jpg_truncated_half.jpg", jpg[:len(jpg) // 2], "JPEG")
    save("jpg_truncated_end.jpg", jpg[:-20], "JPEG")
    save("jpg_100000x100000.jpg", jpeg_with_size(jpg, 65000, 65000), "exceeds the limit")
    save("jpg_zero_width.jpg", jpeg_with_size(jpg, 0, 24), "JPEG")
    save("png_signature_only.png", png[:8], "PNG")
    save("png_truncated_idat.png", png[:len(png) // 2], "PNG")
    bad_crc = bytearray(png)
    bad_crc[20] ^= 0x01  # inside IHDR's height: its CRC no longer matches
    save("png_bad_crc.png", bytes(bad_crc), "PNG")
    save("png_100000x100000.png", png_with_ihdr(100000, 100000), "exceeds the limit")
    save("png_zero_width.png", png_with_ihdr(0, 4), "PNG")
    save("png_color_type_7.png", png_with_ihdr(4, 4, ctype=7), "PNG")
    save("png_bit_depth_3.png", png_with_ihdr(4, 4, depth=3), "PNG")
    save("png_no_idat.png", png_with_ihdr(4, 4, idat=False), "PNG")
    save("pgm_maxval_0.pgm", b"P5 4 4 0\n" + b"\0" * 16, "maxval")
    save("pgm_truncated.pgm", b"P5 4 4 255\n" + b"\x80" * 8, "truncated PNM")
    save("ppm_100000x100000.ppm", b"P6 100000 100000 255\n" + b"\0" * 64, "exceeds the limit")
    save("pgm_negative_width.pgm", b"P5 -4 4 255\n" + b"\0" * 16, "bad PNM header")
    save("pgm_width_overflow.pgm", b"P5 99999999999999999999 1 255\n\0", "PNM")
    save("pgm_ascii_bad_sample.pgm", b"P2 2 2 255\n1 2\nx 4\n", "ASCII PNM sample")
    save("pgm_ascii_over_maxval.pgm", b"P2 2 1 10\n5 11\n", "exceeds maxval")
    save("pgm_no_size.pgm", b"P5\n", "PNM")
    save("text.jpg", b"this is a text file named like an image\n", "unrecognised content")
    save("empty.png", b"", "unrecognised content")

    with open(os.path.join(OUT, "EXPECTED.tsv"), "w") as f:
        f.write("# file\texpected fragment of the error line (regenerate: tools/make_bad_images.py)\n")
        for name, expect in cases:
            f.write("%s\t%s\n" % (name, expect))
    print("wrote %d malformed images to %s" % (len(cases), os.path.normpath(OUT)))


if __name__ == "__main__":
    sys.exit(main())
