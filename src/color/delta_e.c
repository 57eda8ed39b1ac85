/* CIEDE2000 colour difference, following the equations and implementation
 * notes of G. Sharma, W. Wu, E. N. Dalal, "The CIEDE2000 color-difference
 * formula: implementation notes, supplementary test data, and
 * mathematical observations", Color Res. Appl. 30(1):21-30, 2005
 * (equations numbered as there), with kL = kC = kH = 1. Note 2 of the
 * paper: hue angles are taken as 0 when C' = 0, and the mean hue and the
 * hue difference use the rules of eqs. (10)-(11) and (14). */
#include <math.h>

#include "dlut/color.h"

static const double k_pi = 3.14159265358979323846;

static double deg(double rad) {
  return rad * (180.0 / k_pi);
}
static double rad(double d) {
  return d * (k_pi / 180.0);
}

double dlut_delta_e2000(const double lab1[3], const double lab2[3]) {
  const double p25_7 = 6103515625.0; /* 25^7 */
  double l1 = lab1[0], a1 = lab1[1], b1 = lab1[2];
  double l2 = lab2[0], a2 = lab2[1], b2 = lab2[2];
  /* (2)-(7): a' with the G correction, C', h' */
  double c1 = sqrt(a1 * a1 + b1 * b1), c2 = sqrt(a2 * a2 + b2 * b2);
  double cbar = 0.5 * (c1 + c2), cbar7 = pow(cbar, 7.0);
  double g = 0.5 * (1.0 - sqrt(cbar7 / (cbar7 + p25_7)));
  double a1p = (1.0 + g) * a1, a2p = (1.0 + g) * a2;
  double c1p = sqrt(a1p * a1p + b1 * b1), c2p = sqrt(a2p * a2p + b2 * b2);
  double h1p = (b1 == 0.0 && a1p == 0.0) ? 0.0 : deg(atan2(b1, a1p));
  double h2p = (b2 == 0.0 && a2p == 0.0) ? 0.0 : deg(atan2(b2, a2p));
  if (h1p < 0.0) h1p += 360.0;
  if (h2p < 0.0) h2p += 360.0;
  /* (8)-(11): differences */
  double dlp = l2 - l1, dcp = c2p - c1p, dhp;
  if (c1p * c2p == 0.0)
    dhp = 0.0;
  else {
    dhp = h2p - h1p;
    if (dhp > 180.0)
      dhp -= 360.0;
    else if (dhp < -180.0)
      dhp += 360.0;
  }
  double dHp = 2.0 * sqrt(c1p * c2p) * sin(rad(dhp) / 2.0);
  /* (12)-(22): weights */
  double lbarp = 0.5 * (l1 + l2), cbarp = 0.5 * (c1p + c2p), hbarp;
  if (c1p * c2p == 0.0)
    hbarp = h1p + h2p;
  else if (fabs(h1p - h2p) <= 180.0)
    hbarp = 0.5 * (h1p + h2p);
  else if (h1p + h2p < 360.0)
    hbarp = 0.5 * (h1p + h2p + 360.0);
  else
    hbarp = 0.5 * (h1p + h2p - 360.0);
  double t = 1.0 - 0.17 * cos(rad(hbarp - 30.0)) + 0.24 * cos(rad(2.0 * hbarp)) + 0.32 * cos(rad(3.0 * hbarp + 6.0)) -
             0.20 * cos(rad(4.0 * hbarp - 63.0));
  double dtheta = 30.0 * exp(-((hbarp - 275.0) / 25.0) * ((hbarp - 275.0) / 25.0));
  double cbarp7 = pow(cbarp, 7.0);
  double rc = 2.0 * sqrt(cbarp7 / (cbarp7 + p25_7));
  double l50 = (lbarp - 50.0) * (lbarp - 50.0);
  double sl = 1.0 + 0.015 * l50 / sqrt(20.0 + l50);
  double sc = 1.0 + 0.045 * cbarp;
  double sh = 1.0 + 0.015 * cbarp * t;
  double rt = -sin(rad(2.0 * dtheta)) * rc;
  double tl = dlp / sl, tc = dcp / sc, th = dHp / sh;
  double d2 = tl * tl + tc * tc + th * th + rt * tc * th;
  return sqrt(d2 > 0.0 ? d2 : 0.0);
}
