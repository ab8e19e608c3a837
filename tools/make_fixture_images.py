#!/usr/bin/python3
"""Regenerates fixtures/images/: small calibration images covering every decoder path.

Derived from photographs in ../shared/data (photos, faces).  Run with /usr/bin/python3
(Pillow + numpy) from the repository root:  tools/make_fixture_images.py [shared_dir]
The outputs are committed; this script documents how they were made.
"""
import os
import struct
import sys
import zlib

import numpy as np
from PIL import Image

shared = sys.argv[1] if len(sys.argv) > 1 else os.path.join("..", "shared", "data")
out = os.path.join("fixtures", "images")
os.makedirs(out, exist_ok=True)


def src(rel, size):
    im = Image.open(os.path.join(shared, rel)).convert("RGB")
    return im.resize(size, Image.LANCZOS)


def png16(path, arr):
    """16-bit RGB PNG (Pillow cannot write one): big-endian samples, filter 0 rows."""
    h, w, c = arr.shape
    def chunk(t, d):
        return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xFFFFFFFF)
    raw = b"".join(b"\x00" + arr[y].astype(">u2").tobytes() for y in range(h))
    data = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 16, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b""))
    with open(path, "wb") as f:
        f.write(data)


dog = src("photos/onnxtut_dog.jpg", (224, 168))
dog.save(os.path.join(out, "a_dog.jpg"), quality=90)                     # landscape, 4:2:0
src("photos/wml_cat.jpg", (150, 200)).save(os.path.join(out, "b_cat_portrait.jpg"),
                                           quality=85, subsampling=0)   # portrait, 4:4:4
src("faces/13.jpg", (256, 192)).save(os.path.join(out, "c_face_progressive.jpg"),
                                     quality=80, progressive=True)
src("photos/mpl_grace_hopper.jpg", (180, 220)).convert("L").save(
    os.path.join(out, "d_gray.jpg"), quality=90)                        # grayscale JPEG
src("photos/skimage_chelsea.png", (120, 90)).save(os.path.join(out, "e_cat.png"))
rgba = src("photos/wml_hummingbird.jpg", (110, 100)).convert("RGBA")
a = np.array(rgba)
a[..., 3] = np.linspace(0, 255, a.shape[1]).astype(np.uint8)[None, :]   # alpha gradient
Image.fromarray(a, "RGBA").save(os.path.join(out, "f_alpha.png"))
src("photos/skimage_coffee.png", (100, 80)).quantize(64).save(os.path.join(out, "g_palette.png"))
la = src("photos/skimage_camera.png", (96, 96)).convert("LA")
la.save(os.path.join(out, "h_gray_alpha.png"))
src("photos/darknet_horses.jpg", (100, 70)).save(os.path.join(out, "i_horses.ppm"))  # P6
src("photos/skimage_moon.png", (90, 90)).convert("L").save(os.path.join(out, "j_moon.pgm"))
src("faces/2.jpg", (40, 36)).save(os.path.join(out, "k_tiny.jpg"), quality=95)  # upscaled later
rgb16 = np.array(src("photos/skimage_astronaut.png", (64, 64))).astype(np.uint16)
rgb16 = rgb16 * 257 + np.arange(64, dtype=np.uint16)[None, :, None]       # low byte varies
png16(os.path.join(out, "l_rgb16.png"), rgb16)
# ASCII PPM with maxval 100 (rescaled to 0..255 on load).
small = (np.array(src("photos/onnxtut_cat.jpg", (24, 20))).astype(np.int32) * 100 + 127) // 255
with open(os.path.join(out, "m_ascii.ppm"), "w") as f:
    f.write("P3\n# ascii fixture\n24 20\n100\n")
    for row in small:
        f.write(" ".join(str(v) for v in row.reshape(-1)) + "\n")
for name in sorted(os.listdir(out)):
    print(name, os.path.getsize(os.path.join(out, name)))
