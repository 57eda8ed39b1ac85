/* cli/grade_video.c - `dlut grade CLIP.mp4 "PROMPT"`: frames sampled over
 * the clip (dlut_video_sample: spread over it, near-duplicates skipped)
 * are graded as a set with one LUT by cmd_grade.c's set path (the job
 * API's dlut_job_input.photos, dlut_job_bundle_write_set: look.cube,
 * strip.png, graded/frame-*.png, contact.jpg, report.json), and --render
 * applies the LUT to the whole clip (dlut_video_apply). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dlut/error.h"
#include "dlut/file.h"
#include "dlut/video.h"
#include "grade_video.h"

int cli_grade_video_frames(const char *clip, int n, int quiet, dlut_image ***set, char ***paths, int *n_set) {
  dlut_video_frames f;
  if (dlut_video_sample(clip, n, CLI_GRADE_VIDEO_WIDTH, &f) != 0) return -1;
  dlut_image **imgs = calloc((size_t)f.n, sizeof *imgs);
  char **names = calloc((size_t)f.n, sizeof *names);
  if (!imgs || !names) goto nomem;
  for (int i = 0; i < f.n; i++) {
    char buf[64];
    snprintf(buf, sizeof buf, "frame-%02d-%.3fs.png", i + 1, f.times[i]);
    if (!(names[i] = strdup(buf))) goto nomem;
  }
  for (int i = 0; i < *n_set; i++) free((*paths)[i]);
  free(*paths);
  for (int i = 0; i < f.n; i++) imgs[i] = f.frames[i], f.frames[i] = NULL;
  if (!quiet)
    fprintf(stderr, "dlut grade: %d frames of %s (%.2f s) sampled%s\n", f.n, clip, f.duration,
            f.n < n ? ", the others repeated frames already kept" : "");
  *set = imgs;
  *paths = names;
  *n_set = f.n;
  dlut_video_frames_free(&f);
  return 0;
nomem:
  for (int i = 0; names && i < f.n; i++) free(names[i]);
  free(names);
  free(imgs);
  dlut_video_frames_free(&f);
  return dlut_errorc(DLUT_ERR_NOMEM, "%s: out of memory", clip);
}

static int render_progress(void *user, const dlut_video_progress *p) {
  int *open = user;
  double fps = p->seconds > 0 ? (double)p->frame / p->seconds : 0.0;
  double eta = fps > 0 && p->frames > p->frame ? (double)(p->frames - p->frame) / fps : 0.0;
  fprintf(stderr, "\rrendering: frame %lld/%lld  %.1f fps  ETA %d:%02d ", (long long)p->frame, (long long)p->frames,
          fps, (int)eta / 60, (int)eta % 60);
  fflush(stderr);
  *open = 1;
  return 0;
}

int cli_grade_video_render(const char *clip, const dlut_lut *lut, float strength, const char *outdir, int quiet) {
  char ext[16], out[4096];
  dlut_file_ext(clip, ext);
  snprintf(out, sizeof out, "%s/graded.%s", outdir, ext);
  dlut_video_opts o;
  dlut_video_opts_init(&o);
  o.strength = strength;
  int open = 0;
  if (!quiet && isatty(2)) o.progress = render_progress, o.user = &open;
  int rc = dlut_video_apply(clip, out, lut, &o);
  if (open) fputc('\n', stderr);
  if (rc == 0 && !quiet) fprintf(stderr, "dlut grade: rendered %s\n", out);
  return rc;
}
