/* Shared by the job's stages (job.c, set.c): not part of the public API. */
#ifndef DLUT_JOB_PRIVATE_H
#define DLUT_JOB_PRIVATE_H

#include "dlut/image.h"
#include "dlut/job.h"

/* dlut_image_save with o->stop asked while it encodes (a large photo takes seconds): a stop there
 * fails with the job's own words for it (DLUT_ERR_CANCELLED or DLUT_ERR_TIMEOUT, as
 * dlut_job_stop_check), nothing written at path. so may be NULL. */
int dlut__job_save_image(const dlut_image *img, const char *path, const dlut_image_save_opts *so,
                         const dlut_job_opts *o);

#endif
