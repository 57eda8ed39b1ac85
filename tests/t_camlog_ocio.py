"""Camera log decoding (src/color/camlog.c) against OpenColorIO's built-in
camera transforms (PyOpenColorIO, Debian's python3-pyopencolorio), which
nobody here wrote.

For each camera OCIO has, random code values in [0, 1] go through
  - OCIO's BuiltinTransform "<CAMERA>_to_ACES2065-1" and
  - DLUT's decode curve and its gamut matrix to ACES AP0, built from the
    camera's primaries with the chromatic adaptation OCIO uses for that
    camera (CAT02 or Bradford, printed below),
and must agree within 1e-4 relative (|a - b| <= 1e-4 max(1, |b|); OCIO
evaluates in float32). ACEScct goes through OCIO's "ACEScct_to_ACES2065-1"
and, for DLUT's own Rec.709 conversion, "CURVE - ACEScct-LOG_to_LINEAR" +
"UTILITY - ACES-AP1_to_LINEAR-REC709_BFD" against dlut_camlog_to_linear.
For the D65 cameras DLUT's linear Rec.709 (dlut_camlog_to_linear) is also
compared with OCIO's camera -> ACES2065-1 followed by ACES2065-1 -> XYZ D65
-> Rec.709 adapted back with the same CAT (OCIO's own
"ACES-AP0_to_CIE-XYZ-D65_BFD" where that is Bradford; for CAT02 the
inverse written here in numpy from CIE 159:2004's matrix), within 1e-4.

Encodings OCIO 2.1 lacks (logc4, flog2, applelog, dlog) are checked in
tests/test_camlog.c against the manufacturers' published code values.

DLUT's side is a small C probe linked against build/libdlut.a. Any mismatch
fails the test (exit 1); a missing OCIO fails too (never skips).
"""
import os
import subprocess
import sys
import tempfile

import numpy as np
import PyOpenColorIO as OCIO

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = os.environ.get("BUILD", "build")
LIB = os.path.join(ROOT, BUILD, "libdlut.a")

PROBE = r"""
#include <stdio.h>
#include <stdlib.h>
#include "dlut/camlog.h"
/* probe ENC CAT: reads code values (3 per line) on stdin, prints per line:
 * decoded camera-linear (3), camera -> AP0 with CAT (3), linear Rec.709 (3) */
int main(int argc, char **argv) {
  dlut_camlog e;
  if (argc != 3 || dlut_camlog_from_name(argv[1], &e) != 0) return 2;
  dlut_cat cat = atoi(argv[2]) ? DLUT_CAT_CAT02 : DLUT_CAT_BRADFORD;
  const double ap0[8] = {0.7347, 0.2653, 0.0, 1.0, 0.0001, -0.0770, 0.32168, 0.33767};
  double xy[8], m[9];
  dlut_camlog_primaries(e, xy);
  dlut_camlog_gamut_matrix(xy, ap0, cat, m);
  float v[3];
  while (scanf("%f %f %f", &v[0], &v[1], &v[2]) == 3) {
    double l[3];
    float rec[3];
    for (int c = 0; c < 3; c++) l[c] = dlut_camlog_decode(e, v[c]);
    dlut_camlog_to_linear(e, v, rec, 1);
    printf("%.10g %.10g %.10g", l[0], l[1], l[2]);
    for (int i = 0; i < 3; i++) printf(" %.10g", m[3 * i] * l[0] + m[3 * i + 1] * l[1] + m[3 * i + 2] * l[2]);
    printf(" %.10g %.10g %.10g\n", rec[0], rec[1], rec[2]);
  }
  return 0;
}
"""

# name, OCIO builtin, the CAT OCIO's builtin uses for the gamut (1 = CAT02, 0 = Bradford;
# from OpenColorIO src/OpenColorIO/transforms/builtins/*Cameras.cpp, confirmed here by the fit)
CAMERAS = [
    ("slog3", "SONY_SLOG3-SGAMUT3.CINE_to_ACES2065-1", 1),
    ("logc3", "ARRI_ALEXA-LOGC-EI800-AWG_to_ACES2065-1", 1),
    ("vlog", "PANASONIC_VLOG-VGAMUT_to_ACES2065-1", 0),
    ("clog2", "CANON_CLOG2-CGAMUT_to_ACES2065-1", 1),
    ("clog3", "CANON_CLOG3-CGAMUT_to_ACES2065-1", 1),
    ("log3g10", "RED_LOG3G10-RWG_to_ACES2065-1", 0),
    ("acescct", "ACEScct_to_ACES2065-1", 0),
]

failures = []


def ocio_apply(transforms, rgb):
    group = OCIO.GroupTransform()
    for t in transforms:
        group.appendTransform(t)
    cpu = OCIO.Config.CreateRaw().getProcessor(group).getDefaultCPUProcessor()
    out = np.ascontiguousarray(rgb, dtype=np.float32).copy()
    cpu.applyRGB(out)
    return out.astype(np.float64)


def builtin(style):
    return OCIO.BuiltinTransform(style)


def probe(exe, name, cat, codes):
    text = "\n".join("%.9g %.9g %.9g" % tuple(c) for c in codes)
    res = subprocess.run([exe, name, str(cat)], input=text, capture_output=True, text=True, check=True)
    return np.array([[float(x) for x in line.split()] for line in res.stdout.splitlines()])


def rel_err(a, b):
    return np.max(np.abs(a - b) / np.maximum(1.0, np.abs(b)))


def check(label, err, tol):
    status = "ok" if err <= tol else "FAIL"
    print("%-4s %-58s worst %.3g (tol %g)" % (status, label, err, tol))
    if err > tol:
        failures.append(label)


def rec709_from_xyz():
    xy = [(0.64, 0.33), (0.30, 0.60), (0.15, 0.06)]
    w = np.array([0.3127 / 0.3290, 1.0, (1 - 0.3127 - 0.3290) / 0.3290])
    p = np.array([[x / y for x, y in xy], [1.0, 1.0, 1.0], [(1 - x - y) / y for x, y in xy]])
    s = np.linalg.solve(p, w)
    return np.linalg.inv(p * s)


def xy_to_xyz(x, y):
    return np.array([x / y, 1.0, (1 - x - y) / y])


def ap0_to_xyz_d65_cat02():
    """AP0 (SMPTE ST 2065-1 primaries, ACES white) -> XYZ, adapted to D65 by
    CAT02 (CIE 159:2004 cone matrix, von Kries scaling)."""
    xy = [(0.7347, 0.2653), (0.0, 1.0), (0.0001, -0.0770)]
    p = np.array([xy_to_xyz(x, y) if y != 0 else None for x, y in xy]).T
    w_aces, w_d65 = xy_to_xyz(0.32168, 0.33767), xy_to_xyz(0.3127, 0.3290)
    m = p * np.linalg.solve(p, w_aces)
    cat02 = np.array([[0.7328, 0.4296, -0.1624], [-0.7036, 1.6975, 0.0061], [0.0030, 0.0136, 0.9834]])
    adapt = np.linalg.inv(cat02) @ np.diag((cat02 @ w_d65) / (cat02 @ w_aces)) @ cat02
    return adapt @ m


def main():
    print("OpenColorIO", OCIO.__version__)
    styles = {s for s, _ in OCIO.BuiltinTransformRegistry().getBuiltins()}
    if not os.path.exists(LIB):
        print("FAIL: %s not built (make)" % LIB)
        return 1
    with tempfile.TemporaryDirectory() as tmp:
        src = os.path.join(tmp, "probe.c")
        exe = os.path.join(tmp, "probe")
        with open(src, "w") as f:
            f.write(PROBE)
        subprocess.run(["cc", "-O1", "-I" + os.path.join(ROOT, "include"), src, LIB, "-lm", "-pthread", "-o", exe],
                       check=True)
        rng = np.random.default_rng(12)
        # random code values over the whole range plus a dense neutral ramp
        ramp = np.repeat(np.linspace(0.0, 1.0, 1024)[:, None], 3, axis=1)
        codes = np.concatenate([rng.random((4000, 3)), ramp])
        to_rec709 = rec709_from_xyz()
        for name, style, cat in CAMERAS:
            if style not in styles:
                print("FAIL %s: OCIO %s has no builtin %s" % (name, OCIO.__version__, style))
                failures.append(name)
                continue
            d = probe(exe, name, cat, codes)
            lin, ap0, rec = d[:, 0:3], d[:, 3:6], d[:, 6:9]
            ref_ap0 = ocio_apply([builtin(style)], codes)
            check("%s decode + gamut -> ACES2065-1 vs %s (%s)" % (name, style, "CAT02" if cat else "Bradford"),
                  rel_err(ap0, ref_ap0), 1e-4)
            if name == "acescct":
                ref_lin = ocio_apply([builtin("CURVE - ACEScct-LOG_to_LINEAR")], codes)
                check("acescct decode vs CURVE - ACEScct-LOG_to_LINEAR", rel_err(lin, ref_lin), 1e-4)
                ref_rec = ocio_apply([builtin("CURVE - ACEScct-LOG_to_LINEAR"),
                                      builtin("UTILITY - ACES-AP1_to_LINEAR-REC709_BFD")], codes)
                check("acescct -> linear Rec.709 vs ACES-AP1_to_LINEAR-REC709_BFD", rel_err(rec, ref_rec), 1e-4)
            elif cat == 0:
                xyz = ocio_apply([builtin(style), builtin("UTILITY - ACES-AP0_to_CIE-XYZ-D65_BFD")], codes)
                check("%s -> linear Rec.709 vs OCIO + AP0_to_CIE-XYZ-D65_BFD" % name,
                      rel_err(rec, xyz @ to_rec709.T), 1e-4)
            else:
                xyz = ref_ap0 @ ap0_to_xyz_d65_cat02().T
                check("%s -> linear Rec.709 vs OCIO + AP0->XYZ D65 (CAT02, numpy)" % name,
                      rel_err(rec, xyz @ to_rec709.T), 1e-4)
    if failures:
        print("FAILED:", ", ".join(failures))
        return 1
    print("all camlog comparisons with OpenColorIO passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
