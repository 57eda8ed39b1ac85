/* cli/refcheck_manip.h - `dlut refcheck` on ref/manipulation/ (ColorizeDiffusion's
 * text manipulation reference values; cli/refcheck_manip.c). */
#ifndef DLUT_CLI_REFCHECK_MANIP_H
#define DLUT_CLI_REFCHECK_MANIP_H

#include "dlut/clip.h"

/* Check every case of CASE_DIR/ref/manipulation/index.json (printing one
 * line per case id with its worst relative error), plus this engine's own
 * token set of the n_img preprocessed reference images (pixels, may be 0)
 * and text embeddings when model is not NULL. Returns 0 when the cases
 * could be read (*n_failed says how many missed), -1 with
 * dlut_last_error() when the folder cannot be read at all. */
int refcheck_manip(const char *case_dir, dlut_clip *model, float *const *pixels, int n_img, double tol, int quiet,
                   int *n_cases, int *n_failed);

#endif
