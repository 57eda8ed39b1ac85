/* src/job/bundle.h - what the single-photo bundle (job.c) and the set
 * bundle (set.c) share: moving a staged bundle into place. Private to
 * src/job/. */
#ifndef DLUT_JOB_BUNDLE_H
#define DLUT_JOB_BUNDLE_H

#include <stddef.h>

/* The most names dlut__bundle_swap takes on either side. */
#define DLUT__BUNDLE_SWAP_MAX 64

/* Swap a bundle staged in `stage` (a folder inside `outdir`) into the
 * existing folder `outdir`: each of the n_old old_names that exists in
 * outdir is set aside as stage/old.NAME, then each of the n_new new_names
 * moves from stage into outdir, in order. If a rename fails, the renames
 * done are undone (the new names back into stage, then the old ones back
 * into outdir), the error is set (DLUT_ERR_IO) and -1 is returned; else 0.
 * Names are plain names (no '/'), at most DLUT__BUNDLE_SWAP_MAX a side.
 * Allocates nothing: callers run it inside dlut_file_critical_begin/end so
 * that no signal stops it half-way. */
int dlut__bundle_swap(const char *stage, const char *outdir, const char *const *old_names, int n_old,
                      const char *const *new_names, int n_new);

/* fsync a folder (so that renames in it are on disk). 0 / -1 (errno). */
int dlut__fsync_dir(const char *dir);

/* outdir without its trailing slashes ("out/" -> "out", "/" stays), in buf
 * (len bytes, at least strlen(outdir) + 1); returns buf. */
const char *dlut__bundle_dir(const char *outdir, char *buf, size_t len);

/* ==== Staging folders ==== */

/* The mkdtemp template of a bundle's staging folder for outdir: inside it
 * (outdir/.dlut-stage.HOST.PID.XXXXXX) when it exists, else beside it
 * (outdir.tmp.HOST.PID.XXXXXX); HOST and PID are this process's, so that a
 * later run can tell a dead run's folder from a live one's. */
void dlut__bundle_stage_template(char *buf, size_t len, const char *outdir, int inside);

/* Remove the staging folders a run killed outright (SIGKILL, a power cut:
 * no handler ran) left inside outdir (inside = 1; beside it, in a parent
 * that may be shared, nothing is swept): folders of this user and host
 * whose process is gone, removed by descriptor without following links.
 * Another host's or user's, a live process's, and older unnamed ones are
 * left. */
void dlut__bundle_sweep(const char *outdir, int inside);

/* Remove a folder of files and folders of files, `depth` levels down
 * (by descriptor: a symlink is removed, never followed). */
void dlut__rm_tree(const char *dir, int depth);

/* ==== Whose files: a new bundle replaces only DLUT's ==== */

struct cJSON;

/* The report.json in outdir, parsed; NULL where there is none, or it is
 * unreadable or not JSON. */
struct cJSON *dlut__bundle_report(const char *outdir);

/* Nonzero if `name` (a plain name in outdir) is an earlier bundle's file,
 * by that bundle's report `rep`: a DLUT report (it has "method") that
 * lists the name in "files" (or as a set's contact sheet); report.json
 * itself; and, for a report of an older DLUT with no "files", the names a
 * bundle writes (look.cube, strip.png, contact.jpg, graded.EXT,
 * region-N.cube, mask-N.png, heatmap.png). */
int dlut__bundle_ours(const struct cJSON *rep, const char *name);

/* Refuse (DLUT_ERR_INPUT, -1), before anything is written, where one of
 * the names exists in outdir and is not ours: a user's own strip.png or
 * graded.png is never overwritten. 0 otherwise. */
int dlut__bundle_check_replace(const char *outdir, const struct cJSON *rep, const char *const *names, int n);

#endif
