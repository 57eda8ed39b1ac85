/* The semantic suite (tests/semantic_prompts.tsv): each prompt is graded
 * with the offline looks on several real photos and a measurable property
 * of the graded photo in CIELAB is checked on every photo ("warm": mean b*
 * rises; "黑白": chroma near 0; "very warm" warmer than "slightly warm" ...).
 * The file's header documents the checks.
 *
 * Two modes:
 *   test_looks_semantic
 *       runs the whole table with the offline looks (the unit test);
 *   test_looks_semantic --check ORIGINAL GRADED "CHECKS" [GRADED_COMPARE]
 *       checks one graded image against its original (any path: used by
 *       tests/t_looks_semantic.sh to test `dlut grade`, with or without a
 *       CLIP model). Exit 0 if every check holds, 1 if not, 2 on bad usage. */
#include <stdint.h>

#include "dlut/color.h"
#include "dlut/error.h"
#include "dlut/file.h"
#include "dlut/image.h"
#include "dlut/looks.h"
#include "dlut/lut.h"
#include "test.h"

#define MAX_PIX 16000 /* pixels kept per photo (a regular subsample) */

/* ==== Photos as (n,3) float sRGB ==== */

typedef struct photo {
  const char *name;
  float *rgb; /* (n,3) */
  int64_t n;
} photo;

static int photo_load(const char *path, photo *ph, int64_t max_pix) {
  dlut_image *img = dlut_image_load(path);
  if (!img) return -1;
  dlut_image *f = dlut_image_convert(img, 3, DLUT_PIXEL_F32);
  dlut_image_free(img);
  if (!f) return -1;
  int64_t total = (int64_t)f->width * f->height;
  int step = 1;
  while (total / ((int64_t)step * step) > max_pix) step++;
  ph->n = 0;
  ph->rgb = malloc(sizeof(float) * 3 * (size_t)(total / ((int64_t)step * step) + f->width + f->height + 1));
  if (!ph->rgb) {
    dlut_image_free(f);
    return -1;
  }
  for (int y = 0; y < f->height; y += step)
    for (int x = 0; x < f->width; x += step) {
      const float *p = dlut_image_pixel(f, x, y);
      memcpy(ph->rgb + 3 * ph->n++, p, 3 * sizeof(float));
    }
  dlut_image_free(f);
  return 0;
}

/* ==== Metrics ==== */

typedef struct stats {
  double b, a, L, C; /* means over all pixels */
  double spread;     /* standard deviation of L* */
  double black;      /* mean L* of the original's darkest quarter (pure black, L* < 3, left out) */
  double white;      /* mean L* of the original's brightest quarter (pure white, L* > 97, left out) */
  double nb, na;     /* mean b*, a* of the pixels that were near-neutral (C* < 12) in the original */
  double bC, wC;     /* mean chroma of those darkest and brightest quarters */
  double sL, sb, sC; /* mean L*, b*, chroma of the pixels that were skin-toned (as the skin check: hue 30-75,
                        chroma 10-45, L* 30-90) */
} stats;

static int cmp_float(const void *x, const void *y) {
  float a = *(const float *)x, b = *(const float *)y;
  return a < b ? -1 : a > b;
}

/* Statistics of `lab` (n,3); `orig` (n,3) selects the pixel groups (it may
 * be lab itself). scratch holds n floats. */
static stats lab_stats(const float *lab, const float *orig, int64_t n, float *scratch) {
  stats s = {0};
  for (int64_t i = 0; i < n; i++) scratch[i] = orig[3 * i];
  qsort(scratch, (size_t)n, sizeof(float), cmp_float);
  double q25 = scratch[(int64_t)(0.25 * (n - 1))], q75 = scratch[(int64_t)(0.75 * (n - 1))];
  double sb = 0, sw = 0, snb = 0, sna = 0, l2 = 0, sbc = 0, swc = 0, ssl = 0, ssb = 0, ssc = 0;
  int64_t nb = 0, nw = 0, nn = 0, ns = 0;
  for (int64_t i = 0; i < n; i++) {
    double L = lab[3 * i], a = lab[3 * i + 1], b = lab[3 * i + 2], Lo = orig[3 * i];
    s.L += L, s.a += a, s.b += b, s.C += sqrt(a * a + b * b), l2 += L * L;
    if (Lo <= q25 && Lo >= 3) sb += L, sbc += sqrt(a * a + b * b), nb++;
    if (Lo >= q75 && Lo <= 97) sw += L, swc += sqrt(a * a + b * b), nw++;
    if (orig[3 * i + 1] * orig[3 * i + 1] + orig[3 * i + 2] * orig[3 * i + 2] < 144) snb += b, sna += a, nn++;
    const double co = hypot(orig[3 * i + 1], orig[3 * i + 2]),
                 ho = atan2(orig[3 * i + 2], orig[3 * i + 1]) * 180 / M_PI;
    if (co >= 10 && co <= 45 && ho >= 30 && ho <= 75 && Lo >= 30 && Lo <= 90)
      ssl += L, ssb += b, ssc += sqrt(a * a + b * b), ns++;
  }
  s.L /= n, s.a /= n, s.b /= n, s.C /= n;
  s.spread = sqrt(fmax(l2 / n - s.L * s.L, 0.0));
  s.black = nb ? sb / nb : NAN;
  s.white = nw ? sw / nw : NAN;
  s.sL = ns > n / 100 ? ssl / ns : NAN; /* needs 1% skin-toned pixels */
  s.sb = ns > n / 100 ? ssb / ns : NAN;
  s.sC = ns > n / 100 ? ssc / ns : NAN;
  s.bC = nb ? sbc / nb : NAN;
  s.wC = nw ? swc / nw : NAN;
  s.nb = nn > n / 50 ? snb / nn : NAN; /* needs 2% near-neutral pixels */
  s.na = nn > n / 50 ? sna / nn : NAN;
  return s;
}

/* Over the pixels whose original L* is in [lo, hi]: the mean (a,b) shift
 * from orig to graded projected on hue h (returned), and the mean (a,b)
 * of each (for the hue-rotation test). *count gets how many there were. */
static double hue_shift(const float *orig, const float *graded, int64_t n, double h_deg, double lo, double hi,
                        int64_t *count, double mean_o[2], double mean_g[2]) {
  double ca = cos(h_deg * M_PI / 180.0), sa = sin(h_deg * M_PI / 180.0), sum = 0;
  int64_t cnt = 0;
  mean_o[0] = mean_o[1] = mean_g[0] = mean_g[1] = 0;
  for (int64_t i = 0; i < n; i++) {
    if (orig[3 * i] < lo || orig[3 * i] > hi) continue;
    sum += (graded[3 * i + 1] - orig[3 * i + 1]) * ca + (graded[3 * i + 2] - orig[3 * i + 2]) * sa;
    mean_o[0] += orig[3 * i + 1], mean_o[1] += orig[3 * i + 2];
    mean_g[0] += graded[3 * i + 1], mean_g[1] += graded[3 * i + 2];
    cnt++;
  }
  *count = cnt;
  if (!cnt) return 0.0;
  for (int k = 0; k < 2; k++) mean_o[k] /= cnt, mean_g[k] /= cnt;
  return sum / cnt;
}

/* OkLab (Ottosson 2020, https://bottosson.github.io/posts/oklab/) of a CIELAB colour, from
 * Ottosson's published XYZ -> LMS and LMS' -> Lab matrices (written here, not shared with the
 * model's, so that the check measures the model rather than repeating it). */
static void lab_to_oklab(const float lab[3], double ok[3]) {
  static const double m1[9] = {0.8189330101, 0.3618667424, -0.1288597137, 0.0329845436, 0.9293118715,
                               0.0361456387, 0.0482003018, 0.2643662691,  0.6338517070};
  static const double m2[9] = {0.2104542553, 0.7936177850, -0.0040720468, 1.9779984951, -2.4285922050,
                               0.4505937099, 0.0259040371, 0.7827717662,  -0.8086757660};
  float xyz[3];
  dlut_color_lab_to_xyz(lab, xyz, 1);
  double l[3];
  for (int r = 0; r < 3; r++) l[r] = cbrt(m1[3 * r] * xyz[0] + m1[3 * r + 1] * xyz[1] + m1[3 * r + 2] * xyz[2]);
  for (int r = 0; r < 3; r++) ok[r] = m2[3 * r] * l[0] + m2[3 * r + 1] * l[1] + m2[3 * r + 2] * l[2];
}

/* Angle in degrees (0..180) between the direction of (a,b) and hue h. */
static double hue_dist(const double ab[2], double h_deg) {
  double d = fabs(atan2(ab[1], ab[0]) * 180.0 / M_PI - h_deg);
  d = fmod(d, 360.0);
  return d > 180.0 ? 360.0 - d : d;
}

static double metric(const stats *s, const char *name, size_t len) {
#define M(field) \
  if (len == strlen(#field) && memcmp(name, #field, len) == 0) return s->field
  M(b);
  M(a);
  M(L);
  M(C);
  M(spread);
  M(black);
  M(white);
  M(nb);
  M(na);
  M(bC);
  M(wC);
  M(sL);
  M(sb);
  M(sC);
#undef M
  return NAN;
}

static double metric_step(const char *name, size_t len) {
  return len == 6 && memcmp(name, "spread", 6) == 0 ? 0.5 : 1.0;
}

/* Check one space-separated list of checks on one photo; lab arrays are
 * (n,3). cmp may be NULL when no check compares. Prints each failure with
 * `label`. Returns the number of failed checks, or -1 on a malformed check. */
static int run_checks(const char *checks, const float *orig, const float *graded, const float *cmp, int64_t n,
                      float *scratch, const char *label) {
  stats so = lab_stats(orig, orig, n, scratch), sg = lab_stats(graded, orig, n, scratch), sc = {0};
  if (cmp) sc = lab_stats(cmp, orig, n, scratch);
  int fails = 0;
  const char *p = checks;
  while (*p) {
    while (*p == ' ') p++;
    if (!*p) break;
    size_t len = strcspn(p, " ");
    char item[48];
    if (len >= sizeof item) return -1;
    memcpy(item, p, len);
    item[len] = '\0';
    p += len;
    int ok;
    double got = 0, want = 0;
    char *at = strchr(item, '@');
    if (strcmp(item, "mono") == 0) {
      got = sg.C, want = 2.0;
      ok = got <= want;
    } else if (strcmp(item, "ends") == 0) {
      /* pure white stays white and neutral, pure black neutral (its level may lift: fade) */
      double wl = 0, wc = 0, bc = 0;
      int64_t nw = 0, nbk = 0;
      for (int64_t i = 0; i < n; i++) {
        const float *o = orig + 3 * i, *g = graded + 3 * i;
        double c = hypot(g[1], g[2]);
        if (o[0] >= 99.5 && hypot(o[1], o[2]) < 1.0) wl += g[0], wc += c, nw++;
        if (o[0] <= 0.5) bc += c, nbk++;
      }
      if (!nw || !nbk) { /* only in --check mode on a photo without them (the table adds them) */
        fprintf(stderr, "  %s: ends: not measurable (no pure white or black pixels), not checked\n", label);
        continue;
      }
      wl /= nw, wc /= nw, bc /= nbk;
      ok = wl >= 98.5 && wc <= 2.0 && bc <= 2.0;
      got = wl < 98.5 ? wl : wc > 2.0 ? wc : bc, want = wl < 98.5 ? 98.5 : 2.0;
    } else if (strcmp(item, "hue") == 0) {
      /* saturated colours (chroma >= 30, at least 1% of the photo) keep their hue: mean turn <= 3 deg */
      double dh = 0;
      int64_t cnt = 0;
      for (int64_t i = 0; i < n; i++) {
        const float *o = orig + 3 * i, *g = graded + 3 * i;
        if (hypot(o[1], o[2]) < 30) continue;
        dh += fabs(remainder(atan2(g[2], g[1]) * 180.0 / M_PI - atan2(o[2], o[1]) * 180.0 / M_PI, 360.0)), cnt++;
      }
      if (cnt < n / 100) {
        fprintf(stderr, "  %s: hue: not measurable (fewer than 1%% saturated pixels), not checked\n", label);
        continue;
      }
      got = dh / cnt, want = 3.0, ok = got <= want;
    } else if (strcmp(item, "okhue") == 0) {
      /* saturated colours (OkLab chroma >= 0.1, at least 1% of the photo) keep their perceived hue:
       * mean turn of the OkLCh hue <= 3 deg (colours drained below chroma 0.02 have none to keep) */
      double dh = 0;
      int64_t cnt = 0;
      for (int64_t i = 0; i < n; i++) {
        double ko[3], kg[3];
        lab_to_oklab(orig + 3 * i, ko);
        if (hypot(ko[1], ko[2]) < 0.1) continue;
        lab_to_oklab(graded + 3 * i, kg);
        if (hypot(kg[1], kg[2]) < 0.02) continue;
        dh += fabs(remainder((atan2(kg[2], kg[1]) - atan2(ko[2], ko[1])) * 180.0 / M_PI, 360.0)), cnt++;
      }
      if (cnt < n / 100) {
        fprintf(stderr, "  %s: okhue: not measurable (fewer than 1%% saturated pixels), not checked\n", label);
        continue;
      }
      got = dh / cnt, want = 3.0, ok = got <= want;
    } else if (strcmp(item, "noclip") == 0) {
      /* at most 0.5% of the photo newly crushed to black (L* < 0.5 from above 3) or clipped to white
       * (L* > 99.5 from below 97) */
      int64_t bad = 0;
      for (int64_t i = 0; i < n; i++) {
        const float *o = orig + 3 * i, *g = graded + 3 * i;
        bad += (o[0] > 3 && g[0] < 0.5) || (o[0] < 97 && g[0] > 99.5);
      }
      got = 100.0 * (double)bad / (double)n, want = 0.5, ok = got <= want;
    } else if (strcmp(item, "skin") == 0) {
      /* skin-toned colours (CIELAB hue 30-75, chroma 10-45, L* 30-90) keep their hue and most of their chroma */
      double dh = 0, cr = 0;
      int64_t cnt = 0;
      for (int64_t i = 0; i < n; i++) {
        const float *o = orig + 3 * i, *g = graded + 3 * i;
        double co = hypot(o[1], o[2]), ho = atan2(o[2], o[1]) * 180.0 / M_PI;
        if (co < 10 || co > 45 || ho < 30 || ho > 75 || o[0] < 30 || o[0] > 90) continue;
        double d = fabs(remainder(atan2(g[2], g[1]) * 180.0 / M_PI - ho, 360.0));
        dh += d, cr += hypot(g[1], g[2]) / co, cnt++;
      }
      if (cnt < n / 100) {
        fprintf(stderr, "  %s: skin: fewer than 1%% skin-toned pixels\n", label);
        fails++;
        continue;
      }
      dh /= cnt, cr /= cnt;
      ok = dh <= 4.0 && cr >= 0.8 && cr <= 1.25;
      got = dh > 4.0 ? dh : cr, want = dh > 4.0 ? 4.0 : cr < 0.8 ? 0.8 : 1.25;
    } else if (at && strncmp(item, "only", 4) == 0) {
      /* the change stays in its hue range: colours more than 60 deg from H (chroma >= 8) move by a
       * mean dE76 of at most 1.5, and those within 30 deg of H (if 1% of the photo) by at least 1 */
      double h = atof(at + 1), out_de = 0, in_de = 0;
      int64_t n_out = 0, n_in = 0;
      for (int64_t i = 0; i < n; i++) {
        const float *o = orig + 3 * i, *g = graded + 3 * i;
        if (hypot(o[1], o[2]) < 8) continue;
        double d = fabs(remainder(atan2(o[2], o[1]) * 180.0 / M_PI - h, 360.0));
        double de = sqrt((g[0] - o[0]) * (g[0] - o[0]) + (g[1] - o[1]) * (g[1] - o[1]) + (g[2] - o[2]) * (g[2] - o[2]));
        if (d > 60) out_de += de, n_out++;
        if (d < 30) in_de += de, n_in++;
      }
      out_de = n_out ? out_de / n_out : 0, in_de = n_in ? in_de / n_in : 0;
      ok = out_de <= 1.5 && (n_in < n / 100 || in_de >= 1.0);
      got = out_de > 1.5 ? out_de : in_de, want = out_de > 1.5 ? 1.5 : 1.0;
    } else if (at && strncmp(item, "keep", 4) == 0) {
      /* an exception keeps its range: colours within 15 deg of H (chroma >= 15) keep their a*, b* (a mean
       * shift of at most 3), and those more than 90 deg from it (chroma >= 8) move by at least 2; each part
       * where it has 0.5% of the photo, at least one of them */
      double h = atof(at + 1), in_d = 0, out_d = 0;
      int64_t n_in = 0, n_out = 0;
      for (int64_t i = 0; i < n; i++) {
        const float *o = orig + 3 * i, *g = graded + 3 * i;
        double c = hypot(o[1], o[2]), d = fabs(remainder(atan2(o[2], o[1]) * 180.0 / M_PI - h, 360.0));
        double dab = hypot(g[1] - o[1], g[2] - o[2]);
        if (c >= 15 && d < 15) in_d += dab, n_in++;
        if (c >= 8 && d > 90) out_d += dab, n_out++;
      }
      const int has_in = n_in >= n / 200, has_out = n_out >= n / 200;
      if (!has_in && !has_out) {
        fprintf(stderr, "  %s: %s: fewer than 0.5%% of the photo in the range or outside it\n", label, item);
        fails++;
        continue;
      }
      in_d = n_in ? in_d / n_in : 0, out_d = n_out ? out_d / n_out : 0;
      ok = (!has_in || in_d <= 3.0) && (!has_out || out_d >= 2.0);
      got = has_in && in_d > 3.0 ? in_d : out_d, want = has_in && in_d > 3.0 ? 3.0 : 2.0;
    } else if (at) {
      double h = atof(at + 1);
      size_t nl = (size_t)(at - item);
      if (nl == 4 && memcmp(item, "cast", 4) == 0) { /* the graded photo's mean colour lies towards h */
        double ca = cos(h * M_PI / 180.0), sa = sin(h * M_PI / 180.0);
        double proj = sg.a * ca + sg.b * sa, perp = -sg.a * sa + sg.b * ca;
        got = proj - fabs(perp), want = 1.0;
        ok = proj >= 2.0 && got >= 0;
      } else {
        double lo = -1e9, hi = 1e9;
        if (nl == 2 && memcmp(item, "sh", 2) == 0)
          hi = 35; /* absolute bands: the looks work on absolute L* */
        else if (nl == 2 && memcmp(item, "hi", 2) == 0)
          lo = 65;
        else if (!(nl == 3 && memcmp(item, "all", 3) == 0))
          return -1;
        int64_t cnt;
        double mo[2], mg[2];
        got = hue_shift(orig, graded, n, h, lo, hi, &cnt, mo, mg), want = 1.0;
        /* towards H: either at least 1 unit more of H, or, for a coloured band, its mean hue
         * turned at least 5 degrees closer to H (a hue rotation, as yellow -> orange) */
        int rotated =
            hypot(mo[0], mo[1]) >= 5.0 && hypot(mg[0], mg[1]) >= 5.0 && hue_dist(mg, h) <= hue_dist(mo, h) - 5.0;
        ok = (got >= want || rotated) && cnt >= n / 100; /* at least 1% of the photo in the band */
      }
    } else {
      size_t nl = strcspn(item, "+-<>=~^_");
      if (nl == 0 || nl == len) return -1;
      const char *op = item + nl;
      double go = metric(&so, item, nl), gg = metric(&sg, item, nl), step = metric_step(item, nl);
      if (isnan(go) &&
          !(nl == 2 && (memcmp(item, "nb", 2) == 0 || memcmp(item, "na", 2) == 0 || memcmp(item, "sL", 2) == 0 ||
                        memcmp(item, "sb", 2) == 0 || memcmp(item, "sC", 2) == 0)))
        return -1; /* (those need enough neutral or skin-toned pixels: a photo without fails the check) */
      if (strcmp(op, "+") == 0)
        got = gg - go, want = step, ok = got >= want;
      else if (strcmp(op, "-") == 0)
        got = gg - go, want = -step, ok = got <= want;
      else if (strcmp(op, "<=") == 0)
        got = gg - go, want = 0.3, ok = got <= want;
      else if (*op == '^') { /* stacking saturates: |change| <= R |change under COMPARE| + half a step */
        if (!cmp) return -1;
        double gc = metric(&sc, item, nl);
        got = fabs(gg - go), want = atof(op + 1) * fabs(gc - go) + 0.5 * step, ok = atof(op + 1) > 0 && got <= want;
      } else if (*op == '_') { /* not eaten: the change is at least R times the change under COMPARE */
        if (!cmp) return -1;
        double gc = metric(&sc, item, nl), r = atof(op + 1);
        got = gg - go, want = r * (gc - go);
        ok = r > 0 && fabs(gc - go) >= step && (gc > go ? got >= want : got <= want);
      } else if (*op == '~') /* bounded: |change| <= N */
        got = fabs(gg - go), want = atof(op + 1), ok = want > 0 && got <= want;
      else if (strcmp(op, ">=") == 0)
        got = gg - go, want = -0.3, ok = got >= want;
      else if (strcmp(op, ">") == 0 || strcmp(op, "<") == 0) {
        if (!cmp) return -1;
        double gc = metric(&sc, item, nl);
        got = gg - gc, want = (*op == '>' ? 0.5 : -0.5) * step;
        ok = *op == '>' ? got >= want : got <= want;
      } else
        return -1;
    }
    if (!ok) {
      fprintf(stderr, "  %s: %s failed (measured %+.2f, needed %+.2f)\n", label, item, got, want);
      fails++;
    }
  }
  return fails;
}

/* ==== --check mode ==== */

static int check_mode(int argc, char **argv) {
  if (argc < 5 || argc > 6) {
    fprintf(stderr, "usage: %s --check ORIGINAL GRADED \"CHECKS\" [GRADED_COMPARE]\n", argv[0]);
    return 2;
  }
  photo ph[3] = {{0}};
  int rc = 2;
  const char *paths[3] = {argv[2], argv[3], argc == 6 ? argv[5] : NULL};
  for (int i = 0; i < 3; i++)
    if (paths[i] && photo_load(paths[i], &ph[i], 1 << 30) != 0) {
      fprintf(stderr, "%s: %s\n", paths[i], dlut_last_error());
      goto done;
    }
  for (int i = 1; i < 3; i++)
    if (paths[i] && ph[i].n != ph[0].n) {
      fprintf(stderr, "%s: size differs from %s\n", paths[i], paths[0]);
      goto done;
    }
  float *scratch = malloc(sizeof(float) * (size_t)ph[0].n);
  if (!scratch) goto done;
  for (int i = 0; i < 3; i++)
    if (paths[i]) dlut_color_srgb_to_lab(ph[i].rgb, ph[i].rgb, ph[i].n);
  int f = run_checks(argv[4], ph[0].rgb, ph[1].rgb, paths[2] ? ph[2].rgb : NULL, ph[0].n, scratch, argv[3]);
  free(scratch);
  if (f < 0) fprintf(stderr, "malformed checks '%s'\n", argv[4]);
  rc = f < 0 ? 2 : f > 0 ? 1 : 0;
done:
  for (int i = 0; i < 3; i++) free(ph[i].rgb);
  return rc;
}

/* ==== The whole table with the offline looks ==== */

static dlut_lut *look_lut(const char *prompt) {
  dlut_lut *lut = NULL;
  if (dlut_looks_from_prompt(prompt, 33, &lut, NULL, 0, NULL, 0) != 0)
    fprintf(stderr, "'%s': %s\n", prompt, dlut_last_error());
  return lut;
}

/* The look for one photo, as `dlut grade` and the server make it: with the photo (its own cast for
 * "remove the colour cast", its skin-toned share for the skin protection). */
static dlut_lut *photo_look_lut(const char *prompt, const photo *ph) {
  dlut_image img = {.width = (int)ph->n, .height = 1, .channels = 3, .type = DLUT_PIXEL_F32};
  img.stride = sizeof(float) * 3 * (size_t)ph->n, img.data = ph->rgb;
  const dlut_image *photos[1] = {&img};
  dlut_lut *lut = NULL;
  if (dlut_looks_bake_prompt_photos(prompt, 33, 1.0f, 1.0f, 1, photos, 1, &lut, NULL, NULL) != 0)
    fprintf(stderr, "'%s': %s\n", prompt, dlut_last_error());
  return lut;
}

/* The photo graded with lut, in Lab (n,3); NULL on failure. */
static float *grade(const dlut_lut *lut, const photo *ph) {
  if (!lut) return NULL;
  float *out = malloc(sizeof(float) * 3 * (size_t)ph->n);
  if (!out) return NULL;
  dlut_lut_apply_f32(lut, ph->rgb, out, ph->n, DLUT_INTERP_TETRAHEDRAL);
  dlut_color_srgb_to_lab(out, out, ph->n);
  return out;
}

int main(int argc, char **argv) {
  if (argc > 1 && strcmp(argv[1], "--check") == 0) return check_mode(argc, argv);
  static const char *names[] = {"astronaut.png", "chelsea.png", "coffee.png", "rocket.jpg"};
  enum { NPH = 4 };
  photo ph[NPH];
  float *lab[NPH] = {0}, *scratch = malloc(sizeof(float) * MAX_PIX * 2);
  char rel[128];
  for (int i = 0; i < NPH; i++) {
    snprintf(rel, sizeof rel, "data/photos/%s", names[i]);
    ph[i].name = names[i];
    int rc = photo_load(test_shared(rel), &ph[i], MAX_PIX);
    CHECK_MSG(rc == 0, "%s: %s", names[i], dlut_last_error());
    if (rc != 0) return test_summary("looks_semantic");
    /* and pure white and black, so that `ends` always has something to measure (photo_load leaves room) */
    for (int k = 0; k < 8; k++)
      for (int c = 0; c < 3; c++) ph[i].rgb[3 * ph[i].n + 3 * k + c] = k < 4 ? 1.0f : 0.0f;
    ph[i].n += 8;
    lab[i] = malloc(sizeof(float) * 3 * (size_t)ph[i].n);
    dlut_color_srgb_to_lab(ph[i].rgb, lab[i], ph[i].n);
  }
  /* the table: run from the repository root (tests/run.sh does), or name it in $DLUT_SEMANTIC_TSV */
  const char *tsv_path = getenv("DLUT_SEMANTIC_TSV");
  if (!tsv_path || !*tsv_path) tsv_path = "tests/semantic_prompts.tsv";
  size_t size;
  char *tsv = dlut_file_read_all(tsv_path, 1 << 20, &size);
  CHECK_MSG(tsv != NULL, "%s: %s", tsv_path, dlut_last_error());
  int rows = 0, zh_rows = 0, failed_rows = 0;
  for (char *line = tsv; line && *line;) {
    char *next = strchr(line, '\n');
    if (next) *next++ = '\0';
    if (*line && *line != '#') {
      char *cols[3] = {line, NULL, NULL};
      for (int c = 1; c < 3; c++) {
        char *tab = cols[c - 1] ? strchr(cols[c - 1], '\t') : NULL;
        if (tab) *tab = '\0', cols[c] = tab + 1;
      }
      CHECK_MSG(cols[1] != NULL, "malformed row '%s'", line);
      if (cols[1]) {
        rows++;
        int zh = 0;
        for (const unsigned char *q = (const unsigned char *)cols[0]; *q; q++) zh |= *q >= 0xE4 && *q <= 0xE9;
        zh_rows += zh;
        int row_fails = 0;
        for (int i = 0; i < NPH; i++) {
          dlut_lut *lut = photo_look_lut(cols[0], &ph[i]), *lut_c = cols[2] ? photo_look_lut(cols[2], &ph[i]) : NULL;
          float *g = grade(lut, &ph[i]), *gc = cols[2] ? grade(lut_c, &ph[i]) : NULL;
          CHECK(g != NULL && (!cols[2] || gc != NULL));
          if (g && (!cols[2] || gc)) {
            char label[256];
            snprintf(label, sizeof label, "'%s' on %s", cols[0], ph[i].name);
            int f = run_checks(cols[1], lab[i], g, gc, ph[i].n, scratch, label);
            CHECK_MSG(f >= 0, "malformed checks '%s'", cols[1]);
            if (f > 0) row_fails++;
          }
          free(g);
          free(gc);
          dlut_lut_free(lut);
          dlut_lut_free(lut_c);
        }
        CHECK_MSG(row_fails == 0, "'%s' (%s) fails on %d of %d photos", cols[0], cols[1], row_fails, NPH);
        failed_rows += row_fails > 0;
      }
    }
    line = next;
  }
  /* the suite is as large and as bilingual as promised */
  CHECK_MSG(rows >= 60, "only %d prompts", rows);
  CHECK_MSG(2 * zh_rows >= rows, "only %d of %d prompts in Chinese", zh_rows, rows);
  fprintf(stderr, "semantic suite: %d prompts (%d Chinese) on %d photos, %d failed\n", rows, zh_rows, NPH, failed_rows);
  /* the checker catches a wrong grade: the identity fails "warm", and warm fails "cool" */
  {
    dlut_lut *lut = look_lut("warm");
    float *g = grade(lut, &ph[0]);
    dlut_lut_free(lut);
    CHECK(g && run_checks("b-", lab[0], g, NULL, ph[0].n, scratch, "(expected to fail) warm as b-") == 1);
    CHECK(run_checks("b+", lab[0], lab[0], NULL, ph[0].n, scratch, "(expected to fail) identity as b+") == 1);
    CHECK(run_checks("b+ nonsense+", lab[0], g, NULL, ph[0].n, scratch, "x") == -1);
    free(g);
  }
  /* and okhue catches a hue turn: every band turned by 20 deg fails it, plain saturation does not */
  {
    dlut_look turn;
    dlut_look_init(&turn);
    for (int k = 0; k < DLUT_LOOK_NBANDS; k++) turn.band_hue[k] = 20;
    dlut_lut *lut = dlut_look_bake(&turn, 33);
    float *g = grade(lut, &ph[0]);
    dlut_lut_free(lut);
    CHECK(g && run_checks("okhue", lab[0], g, NULL, ph[0].n, scratch, "(expected to fail) hue turned") == 1);
    free(g);
    lut = look_lut("very saturated");
    g = grade(lut, &ph[0]);
    dlut_lut_free(lut);
    CHECK(g && run_checks("okhue", lab[0], g, NULL, ph[0].n, scratch, "very saturated") == 0);
    free(g);
  }
  /* and keep@ catches a range that lost its colour: plain black and white fails "keep the reds", and the
   * identity fails it too (nothing outside the range changed) */
  {
    dlut_lut *lut = look_lut("black and white");
    float *g = grade(lut, &ph[0]);
    dlut_lut_free(lut);
    CHECK(g && run_checks("keep@35", lab[0], g, NULL, ph[0].n, scratch, "(expected to fail) reds drained") == 1);
    CHECK(run_checks("keep@35", lab[0], lab[0], NULL, ph[0].n, scratch, "(expected to fail) nothing changed") == 1);
    free(g);
  }
  free(tsv);
  for (int i = 0; i < NPH; i++) free(ph[i].rgb), free(lab[i]);
  free(scratch);
  return test_summary("looks_semantic");
}
