"""Image I/O against ImageMagick (and numpy for the colour maths).

Our loader is driven through the tool mode of the test_image binary
($BUILD/tests/test_image convert IN OUT.ppm), and its pixels are compared
with what ImageMagick 6 decodes from the same file:
  - every EXIF orientation 1..8, in JPEG (APP1), PNG (eXIf), WebP (EXIF
    chunk) and TIFF (tag), against `convert -auto-orient` of a TIFF that
    ImageMagick tags itself with `-orient`;
  - embedded ICC profiles (Adobe RGB 1998 from Ghostscript's profile set) in
    PNG 8/16-bit, JPEG and TIFF, against `convert -profile srgb.icc`, and
    against an independent numpy computation from the Adobe RGB primaries;
  - decoder coverage: PNG palette/grey/1-bit/16-bit/interlaced/alpha,
    JPEG grey/progressive, TIFF LZW/tiled/planar/16-bit/float/grey/palette/
    min-is-white, PPM/PGM with odd maxvals;
  - metadata: EXIF/XMP from hubble_deep_field.jpg survive into JPEG, PNG,
    WebP (and XMP into TIFF), read back by ImageMagick or by parsing the
    chunks here; outputs are tagged sRGB.
Exits non-zero on any mismatch.
"""
import os
import struct
import subprocess
import sys
import tempfile
import zlib

import numpy as np

BUILD = os.environ.get("BUILD", "build")
TOOL = os.path.join(BUILD, "tests", "test_image")
SHARED = os.environ.get("DLUT_SHARED", "../shared")
PHOTOS = os.path.join(SHARED, "data", "photos")
GS_ICC = "/usr/share/color/icc/ghostscript"
failures = 0
checks = 0


def check(cond, msg):
    global failures, checks
    checks += 1
    if not cond:
        failures += 1
        print("FAIL:", msg)


def run(*args):
    r = subprocess.run(list(args), capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError("%s failed: %s" % (" ".join(args), r.stderr.strip()))
    return r.stdout


# /usr/bin/convert is ImageMagick itself; a "convert" earlier on PATH may be a
# slower wrapper around it.
CONVERT = "/usr/bin/convert" if os.access("/usr/bin/convert", os.X_OK) else "convert"


def magick(*args):
    return run(CONVERT, *args)


def read_pnm(path):
    """P6/P5 reader -> (H, W, 3) uint8 or uint16 array."""
    d = open(path, "rb").read()
    toks, i = [], 2
    while len(toks) < 3:
        while d[i:i + 1].isspace():
            i += 1
        if d[i:i + 1] == b"#":
            while d[i:i + 1] not in (b"\n", b"\r"):
                i += 1
            continue
        j = i
        while not d[j:j + 1].isspace():
            j += 1
        toks.append(int(d[i:j]))
        i = j
    i += 1
    w, h, maxval = toks
    ch = 3 if d[:2] == b"P6" else 1
    dt = np.dtype(">u2") if maxval > 255 else np.uint8
    a = np.frombuffer(d, dtype=dt, count=w * h * ch, offset=i).reshape(h, w, ch)
    if ch == 1:
        a = np.repeat(a, 3, axis=2)
    return a.astype(np.uint16 if maxval > 255 else np.uint8), maxval


def ours(path, out_ext="ppm"):
    out = path + ".ours." + out_ext
    run(TOOL, "convert", path, out)
    return read_pnm(out)[0]


def im_decode(path, depth=8, extra=()):
    out = path + ".im.ppm"
    magick(path, *extra, "-depth", str(depth), out)
    return read_pnm(out)[0]


def maxdiff(a, b):
    """Largest difference, in units of the deeper of the two (8-bit values
    count 257x when compared with 16-bit ones)."""
    if a.shape != b.shape:
        return 1 << 30
    a, b = a.astype(np.int64) * (257 if a.dtype == np.uint8 and b.dtype != np.uint8 else 1), \
        b.astype(np.int64) * (257 if b.dtype == np.uint8 and a.dtype != np.uint8 else 1)
    return int(np.abs(a - b).max())


# ==== EXIF orientation ====

ORIENT_NAMES = [None, "TopLeft", "TopRight", "BottomRight", "BottomLeft",
                "LeftTop", "RightTop", "RightBottom", "LeftBottom"]


def exif_blob(orientation):
    """Big-endian EXIF: IFD0 = {Orientation}."""
    ifd = struct.pack(">H", 1) + struct.pack(">HHIHH", 0x0112, 3, 1, orientation, 0) + struct.pack(">I", 0)
    return b"MM\x00*" + struct.pack(">I", 8) + ifd


def png_chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xffffffff)


def png_with_exif(src, dst, orientation):
    d = open(src, "rb").read()
    i = d.index(b"IDAT") - 4
    open(dst, "wb").write(d[:i] + png_chunk(b"eXIf", exif_blob(orientation)) + d[i:])


def jpeg_with_exif(src, dst, orientation):
    d = open(src, "rb").read()
    payload = b"Exif\x00\x00" + exif_blob(orientation)
    seg = b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload
    open(dst, "wb").write(d[:2] + seg + d[2:])


def webp_with_exif(src, dst, orientation, w, h):
    """Wrap a simple (VP8L) WebP into an extended one (VP8X + EXIF chunk)."""
    d = open(src, "rb").read()
    assert d[:4] == b"RIFF" and d[8:12] == b"WEBP"
    body = d[12:]
    flags = 0x08  # EXIF present
    vp8x = struct.pack("<I", flags) + struct.pack("<I", w - 1)[:3] + struct.pack("<I", h - 1)[:3]
    ex = exif_blob(orientation)
    chunks = b"VP8X" + struct.pack("<I", 10) + vp8x + body + b"EXIF" + struct.pack("<I", len(ex)) + ex
    if len(ex) % 2:
        chunks += b"\x00"
    open(dst, "wb").write(b"RIFF" + struct.pack("<I", 4 + len(chunks)) + b"WEBP" + chunks)


def test_orientation(tmp):
    base = os.path.join(tmp, "base.png")
    magick(os.path.join(PHOTOS, "chelsea.png"), "-resize", "97x61!", base)
    w, h = 97, 61
    bjpg = os.path.join(tmp, "base.jpg")
    magick(base, "-quality", "95", bjpg)
    bwebp = os.path.join(tmp, "base.webp")
    magick(base, "-define", "webp:lossless=true", bwebp)
    for o in range(1, 9):
        tif = os.path.join(tmp, "o%d.tif" % o)
        magick(base, "-orient", ORIENT_NAMES[o], tif)
        ref = im_decode(tif, extra=("-auto-orient",))
        check(ref.shape[:2] == ((w, h) if o >= 5 else (h, w)), "ImageMagick auto-orient %d shape %s" % (o, ref.shape))
        check(maxdiff(ours(tif), ref) == 0, "TIFF orientation %d differs from ImageMagick -auto-orient" % o)
        png = os.path.join(tmp, "o%d.png" % o)
        png_with_exif(base, png, o)
        check(maxdiff(ours(png), ref) == 0, "PNG eXIf orientation %d differs from ImageMagick" % o)
        webp = os.path.join(tmp, "o%d.webp" % o)
        webp_with_exif(bwebp, webp, o, w, h)
        check(maxdiff(ours(webp), ref) == 0, "WebP EXIF orientation %d differs from ImageMagick" % o)
        jpg = os.path.join(tmp, "o%d.jpg" % o)
        jpeg_with_exif(bjpg, jpg, o)
        jref = im_decode(jpg, extra=("-auto-orient",))
        d = maxdiff(ours(jpg), jref)
        check(d <= 1, "JPEG Exif orientation %d: max difference %d from ImageMagick" % (o, d))
        info = run(TOOL, "info", jpg).split()
        check(int(info[6]) == 1, "JPEG orientation %d: loaded EXIF still says %s" % (o, info[6]))


# ==== ICC ====

def adobe_rgb_to_srgb(rgb8):
    """Independent reference: Adobe RGB (1998) primaries, D65, gamma
    563/256 (Adobe RGB 1998 spec section 4.3) -> linear -> XYZ -> sRGB
    (IEC 61966-2-1), clipped. Matrices from primaries (RP 177)."""
    def m_from(xy, wxy):
        P = np.array([[x / y, 1.0, (1 - x - y) / y] for x, y in xy]).T
        W = np.array([wxy[0] / wxy[1], 1.0, (1 - wxy[0] - wxy[1]) / wxy[1]])
        return P * np.linalg.solve(P, W)
    d65 = (0.3127, 0.3290)
    ma = m_from([(0.64, 0.33), (0.21, 0.71), (0.15, 0.06)], d65)
    ms = m_from([(0.64, 0.33), (0.30, 0.60), (0.15, 0.06)], d65)
    lin = (rgb8.astype(np.float64) / 255.0) ** (563.0 / 256.0)
    out = lin @ (np.linalg.inv(ms) @ ma).T
    out = np.clip(out, 0, 1)
    enc = np.where(out <= 0.0031308, out * 12.92, 1.055 * out ** (1 / 2.4) - 0.055)
    return np.round(enc * 255).astype(np.int64)


# 16-bit values that do not reduce to 8 bits (ImageMagick would write 8).
DEEP = ("-depth", "16", "-evaluate", "multiply", "0.9973")


def test_icc(tmp):
    a98 = os.path.join(GS_ICC, "a98.icc")
    srgb = os.path.join(GS_ICC, "srgb.icc")
    base = os.path.join(tmp, "ibase.png")
    magick(os.path.join(PHOTOS, "coffee.png"), "-resize", "120x80!", base)
    conv = ("-intent", "Relative", "-black-point-compensation", "-profile", srgb)
    for name, depth, args, tol in [("a98.png", 8, (), 1), ("a98-16.png", 16, DEEP, 24),
                                   ("a98.jpg", 8, ("-quality", "95"), 2), ("a98.tif", 16, DEEP, 24)]:
        f = os.path.join(tmp, name)
        magick(base, *args, "-profile", a98, f)  # no profile yet: this only assigns (tags) it
        check("Profile-icc" in run("identify", "-verbose", f), "%s: ImageMagick did not embed the profile" % name)
        ref = im_decode(f, depth=depth, extra=conv)
        got = ours(f)
        d = maxdiff(got, ref)
        check(d <= tol, "%s: max difference %d from ImageMagick's lcms conversion (tolerance %d)" % (name, d, tol))
        if depth == 8 and name.endswith(".png"):
            raw = im_decode(f, depth=8, extra=("+profile", "*"))  # the stored Adobe RGB code values
            want = adobe_rgb_to_srgb(raw)
            dn = int(np.abs(got.astype(np.int64) - want).max())
            check(dn <= 2, "%s: max difference %d from the numpy Adobe RGB -> sRGB reference" % (name, dn))
            changed = maxdiff(got, raw)
            check(changed > 10, "%s: pixels were not converted (max change %d)" % (name, changed))
        if depth == 16:
            check(got.dtype == np.uint16, "%s: 16-bit precision lost" % name)


def test_icc_photo(tmp):
    """rocket.jpg carries an Adobe RGB (1998) profile: a real camera-style case."""
    src = os.path.join(PHOTOS, "rocket.jpg")
    check("Adobe RGB" in run("identify", "-format", "%[icc:description]", src), "rocket.jpg should be Adobe RGB")
    f = os.path.join(tmp, "rocket.jpg")
    with open(src, "rb") as a, open(f, "wb") as b:
        b.write(a.read())
    ref = im_decode(f, extra=("-intent", "Relative", "-black-point-compensation", "-profile",
                              os.path.join(GS_ICC, "srgb.icc")))
    d = maxdiff(ours(f), ref)
    check(d <= 1, "rocket.jpg: max difference %d from ImageMagick's Adobe RGB -> sRGB" % d)


# ==== Decoder coverage vs ImageMagick ====

def test_variants(tmp):
    src = os.path.join(tmp, "vbase.png")
    magick(os.path.join(PHOTOS, "astronaut.png"), "-resize", "75x53!", src)
    cases = [
        ("palette.png", ("-type", "Palette", "PNG8:"), 8, 0),
        ("grey.png", ("-colorspace", "Gray"), 8, 0),
        ("grey16.png", ("-colorspace", "Gray") + DEEP, 16, 0),
        ("mono.png", ("-monochrome",), 8, 0),
        ("rgb16.png", DEEP, 16, 0),
        ("interlaced.png", ("-interlace", "PNG"), 8, 0),
        ("alpha.png", ("-alpha", "on", "-channel", "A", "-evaluate", "set", "50%", "+channel"), 8, 0),
        ("grey.jpg", ("-colorspace", "Gray", "-quality", "90"), 8, 1),
        ("progressive.jpg", ("-interlace", "JPEG", "-quality", "90"), 8, 1),
        ("lzw.tif", ("-compress", "LZW"), 8, 0),
        ("tiled.tif", ("-define", "tiff:tile-geometry=16x16"), 8, 0),
        ("planar.tif", ("-interlace", "Plane"), 8, 0),
        ("rgb16.tif", DEEP + ("-compress", "Zip"), 16, 0),
        ("float.tif", ("-depth", "32", "-define", "quantum:format=floating-point"), 16, 1),
        ("half.tif", ("-type", "TrueColor", "-depth", "16", "-define", "quantum:format=floating-point"), 16, 1),
        ("grey.tif", ("-colorspace", "Gray"), 8, 0),
        ("jpeg.tif", ("-compress", "JPEG", "-quality", "90"), 8, 0),
        ("tiled16.tif", DEEP + ("-define", "tiff:tile-geometry=32x32", "-compress", "LZW"), 16, 0),
        ("rgba.tif", ("-alpha", "on", "-channel", "A", "-evaluate", "set", "50%", "+channel", "-compress", "Zip"), 8, 0),
        # libtiff's RGBA reader truncates the 16-bit colour map (>> 8); ImageMagick rounds
        ("palette.tif", ("-type", "Palette"), 8, 1),
        ("miniswhite.tif", ("-colorspace", "Gray", "-define", "tiff:photometric=min-is-white"), 8, 0),
        ("maxval1023.ppm", ("-depth", "10"), 16, 1),
        ("grey.pgm", ("-colorspace", "Gray"), 8, 0),
        ("rgb16.ppm", DEEP, 16, 0),
        ("lossless.webp", ("-define", "webp:lossless=true"), 8, 0),
    ]
    # CMYK JPEG, untagged (naive formula, Adobe-inverted) and with a CMYK
    # profile (Ghostscript's SWOP; lcms's optimised CLUT, see icc.c).
    f = os.path.join(tmp, "cmyk.jpg")
    magick(src, "-colorspace", "CMYK", "-quality", "95", f)
    d = maxdiff(ours(f), im_decode(f, extra=("-colorspace", "sRGB")))
    check(d <= 1, "cmyk.jpg: max difference %d from ImageMagick" % d)
    f = os.path.join(tmp, "cmyk-icc.jpg")
    magick(src, "-profile", os.path.join(GS_ICC, "srgb.icc"), "-profile", os.path.join(GS_ICC, "default_cmyk.icc"),
           "-quality", "95", f)
    ref = im_decode(f, extra=("-intent", "Relative", "-black-point-compensation", "-profile",
                              os.path.join(GS_ICC, "srgb.icc")))
    d = maxdiff(ours(f), ref)
    check(d <= 6, "cmyk-icc.jpg: max difference %d from ImageMagick's lcms conversion" % d)
    for name, args, depth, tol in cases:
        f = os.path.join(tmp, name)
        prefix = ""
        args = list(args)
        if args and args[-1].endswith(":"):
            prefix = args.pop()
        magick(src, *args, prefix + f)
        ref = im_decode(f, depth=depth)
        try:
            got = ours(f)
        except RuntimeError as e:
            check(False, "%s: %s" % (name, e))
            continue
        d = maxdiff(got, ref)
        check(d <= tol, "%s: max difference %d from ImageMagick (tolerance %d)" % (name, d, tol))


def test_alpha(tmp):
    """Alpha is carried through: our RGBA output's alpha equals ImageMagick's
    reading of the source's alpha."""
    src = os.path.join(tmp, "abase.png")
    magick(os.path.join(PHOTOS, "coffee.png"), "-resize", "64x40!", "-alpha", "on", "-channel", "A", "-fx",
           "i/w", "+channel", src)
    for name, args in [("a.png", ()), ("a16.png", ("-depth", "16")), ("a.tif", ("-compress", "LZW")),
                       ("a.webp", ("-define", "webp:lossless=true")), ("trns.png", ("-type", "PaletteAlpha"))]:
        f = os.path.join(tmp, name)
        magick(src, *args, f)
        out = f + ".ours.png"
        run(TOOL, "convert", f, out)
        want = im_decode(f, extra=("-alpha", "extract"))
        got = im_decode(out, extra=("-alpha", "extract"))
        d = maxdiff(got, want)
        check(d == 0 and int(want.max()) > int(want.min()), "%s: alpha differs by %d" % (name, d))
    # associated (premultiplied) alpha, as Nuke, After Effects and Photoshop may write a TIFF: the colour
    # comes back straight (divided by alpha), not darkened by it; compared with the straight source where
    # alpha >= 1/2 (8-bit premultiplication loses up to 255/alpha codes there, so 2)
    alpha = im_decode(src, extra=("-alpha", "extract"))[..., 0]
    want = im_decode(src, extra=("-alpha", "off"))
    for name, args in [("assoc8.tif", ()), ("assoc16.tif", ("-depth", "16")),
                       ("assocf.tif", ("-depth", "32", "-define", "quantum:format=floating-point"))]:
        f = os.path.join(tmp, name)
        magick(src, *args, "-define", "tiff:alpha=associated", f)
        out = f + ".ours.png"
        run(TOOL, "convert", f, out)
        got = im_decode(out, extra=("-alpha", "off"))
        m = alpha >= 128
        d = int(np.abs(got.astype(int) - want.astype(int))[m].max())
        check(d <= 2 and m.sum() > 100, "%s: straight colour within %d codes of the source (alpha >= 1/2)" % (name, d))


# ==== Metadata ====

def png_chunks(path):
    d = open(path, "rb").read()
    i, out = 8, []
    while i < len(d):
        n, = struct.unpack(">I", d[i:i + 4])
        out.append((d[i + 4:i + 8], d[i + 8:i + 8 + n]))
        i += 12 + n
    return out


def exif_props(path):
    txt = run("identify", "-verbose", path)
    return {l.strip().split(":", 2)[1]: l.strip().split(": ", 1)[1] for l in txt.splitlines()
            if l.strip().startswith("exif:") and ": " in l and "Offset" not in l}


def test_metadata(tmp):
    src = os.path.join(PHOTOS, "hubble_deep_field.jpg")
    want = exif_props(src)
    check(len(want) >= 3, "hubble_deep_field.jpg should carry EXIF (%d props)" % len(want))
    raw = open(src, "rb").read()
    xi = raw.index(b"http://ns.adobe.com/xap/1.0/\x00") + 29
    seg_len, = struct.unpack(">H", raw[xi - 29 - 2:xi - 29])
    xmp = raw[xi:xi - 29 - 2 + seg_len]
    exif_src = raw[raw.index(b"Exif\x00\x00") + 6:]
    exif_len = 230  # the APP1 segment's payload after "Exif\0\0"
    for ext in ("jpg", "webp"):
        out = os.path.join(tmp, "meta." + ext)
        run(TOOL, "convert", src, out)
        if ext == "jpg":
            got = exif_props(out)
            for k, v in want.items():
                check(got.get(k) == v, "%s: exif:%s = %r, want %r" % (ext, k, got.get(k), v))
        else:
            # ImageMagick 6 only parses WebP EXIF that carries JPEG's "Exif\0\0"
            # prefix; the container spec stores the TIFF structure itself, as
            # we do, so check the chunk directly.
            d = open(out, "rb").read()
            i = d.index(b"EXIF")
            n, = struct.unpack("<I", d[i + 4:i + 8])
            chunk = d[i + 8:i + 8 + n]
            check(n == exif_len and chunk[:8] == exif_src[:8] and chunk[20:] == exif_src[20:n],
                  "WebP EXIF chunk differs from the source EXIF")
        info = run(TOOL, "info", out).split()
        check(int(info[4]) == exif_len, "%s: EXIF of %d bytes came back as %s" % (ext, exif_len, info[4]))
        check(int(info[5]) == len(xmp), "%s: XMP of %d bytes came back as %s" % (ext, len(xmp), info[5]))
    out = os.path.join(tmp, "meta.png")
    run(TOOL, "convert", src, out)
    ch = dict(png_chunks(out))
    check(b"sRGB" in ch, "PNG output not tagged sRGB")
    check(ch.get(b"iTXt", b"").startswith(b"XML:com.adobe.xmp\x00") and ch[b"iTXt"].endswith(xmp),
          "PNG output lost the XMP packet")
    check(b"eXIf" in ch and exif_src.startswith(ch[b"eXIf"][:8]) and len(ch[b"eXIf"]) == 230,
          "PNG output lost the EXIF block")
    # Read back through ImageMagick from our JPEG: the EXIF also survives a PNG hop.
    back = os.path.join(tmp, "meta2.jpg")
    run(TOOL, "convert", out, back)
    got = exif_props(back)
    check(all(got.get(k) == v for k, v in want.items()), "EXIF lost going JPEG -> PNG -> JPEG")
    check("sRGB" in run("identify", "-format", "%[icc:description]", back), "JPEG output not tagged sRGB")
    out = os.path.join(tmp, "meta.tif")
    run(TOOL, "convert", src, out)
    check(int(run(TOOL, "info", out).split()[5]) == len(xmp), "TIFF output lost the XMP packet")
    # EXIF through TIFF (IFD0 strings + EXIF IFD appended by us) and back to JPEG.
    back = os.path.join(tmp, "meta3.jpg")
    run(TOOL, "convert", out, back)
    got = exif_props(back)
    for k, v in want.items():
        check(got.get(k) == v, "JPEG -> TIFF -> JPEG: exif:%s = %r, want %r" % (k, got.get(k), v))
    tprops = run("identify", "-verbose", out)
    check("exif:PixelXDimension: 1000" in tprops, "ImageMagick sees no EXIF IFD in our TIFF")


def main():
    if not os.access(TOOL, os.X_OK):
        print("missing", TOOL)
        return 1
    with tempfile.TemporaryDirectory() as tmp:
        for t in (test_orientation, test_icc, test_icc_photo, test_variants, test_alpha, test_metadata):
            try:
                t(tmp)
            except Exception as e:  # a tool failing is a test failure, reported, not a crash
                check(False, "%s raised %s" % (t.__name__, e))
    print("t_image: %d checks, %d failed" % (checks, failures))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
