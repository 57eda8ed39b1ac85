/* src/job/job_region.h - the region part of a job (dlut/job.h, dlut/region.h):
 * private hooks job.c calls. */
#ifndef DLUT_JOB_REGION_H
#define DLUT_JOB_REGION_H

#include <cjson/cJSON.h>

#include "core/jsonb.h"

#include "dlut/job.h"

/* Refuse what cannot run before anything else does (a text region
 * without a model, a mask region without its matte). 0 / -1. */
int dlut__job_regions_check(const dlut_job_input *in, const dlut_job_opts *o);
/* No model: masks from the mattes, each region's LUT from its prompt's
 * offline look (res->lut is the global one already). */
int dlut__job_regions_offline(const dlut_job_input *in, const dlut_job_opts *o, dlut_job_result *res);
/* With a model: masks (mattes, or found from text), then the global and
 * region LUTs optimised together (dlut/region.h); fills res->grade (its
 * lut the global LUT) and res->regions. g: the global grade's options. */
int dlut__job_regions_clip(const dlut_job_input *in, const dlut_job_opts *o, const dlut_grade_opts *g,
                           dlut_job_result *res);
/* The report's "regions" and "composite" members, through the builder b. */
void dlut__job_region_report(jsonb *b, cJSON *rep, const dlut_job_input *in, const dlut_job_opts *o,
                             const dlut_job_result *r);
void dlut__job_region_free(dlut_job_result *res);
/* Bundle: the region files' names (returns how many), writing them into
 * the staging folder, the composite, and names of region files an earlier
 * bundle may hold that this one does not (returns how many). */
int dlut__job_region_names(const dlut_job_result *res, char (*names)[32], int cap);
int dlut__job_region_write(const dlut_job_result *res, const dlut_image *photo, const char *stage);
dlut_image *dlut__job_region_render(const dlut_job_result *res, const dlut_image *photo, float strength);
int dlut__job_region_stale(char (*names)[32], int nb, char (*old)[32], int cap);

#endif
