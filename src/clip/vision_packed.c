/* The fp32 vision tower's Linear weights, packed once for the AVX-512
 * GEMM (dlut_sgemm_pack_b, src/tensor/sgemm.c "Pre-packed B"), so that the
 * products of clip_block_preln_forward / _backward no longer repack every
 * weight from memory on every call (perf on ViT-B/16, Zen 5: ~17% of the
 * fp32 forward+backward went to that packing).
 *
 * Per block, as the bf16 path packs them (vision_bf16.c): w^T for the
 * forward (out = x w^T + b) and w for the input gradient (dx = dy w), with
 * q, k and v as one product each way ((C, 3C) forward, (3C, C) backward,
 * which also makes three GEMMs one). 8 bytes per block parameter (two fp32
 * copies: ViT-B/16 680 MB, ViT-L/14 2.4 GB), made on the first fp32 forward
 * that uses them and kept until the model is freed. Used only with the CPU
 * backend while dlut_sgemm_kernel() is the AVX-512 kernel (elsewhere the
 * products go to the backend with the plain weights, as before), and not
 * at all with DLUT_CLIP_PACKED=0 in the environment, nor where it would take
 * more than a quarter of the physical memory. If the memory cannot be had
 * the tower runs unpacked (no error; not retried). */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clip/clip_internal.h"
#include "dlut/parallel.h"

struct clip_vpack {
  int L, C, I;             /* the tower the packing was made for */
  clip_block_pack *layers; /* (L) */
  float *block;            /* one allocation behind every packed matrix */
};

void clip_vpack_free(dlut_clip *m) {
  struct clip_vpack *v = m->vpack;
  if (!v) return;
  free(v->block);
  free(v->layers);
  free(v);
  m->vpack = NULL;
}

/* floats of one block's packed weights, each matrix 64-byte aligned */
static size_t round16(size_t n) {
  return (n + 15) & ~(size_t)15;
}

static size_t layer_floats(int C, int I) {
  return round16(dlut_sgemm_packed_size(C, 3 * C)) + round16(dlut_sgemm_packed_size(3 * C, C)) +
         2 * round16(dlut_sgemm_packed_size(C, C)) + 2 * round16(dlut_sgemm_packed_size(C, I)) +
         2 * round16(dlut_sgemm_packed_size(I, C)) + round16(3 * (size_t)C);
}

typedef struct {
  struct clip_vpack *v;
  const clip_vision_w *w;
  float *tmp; /* (3C, C) per thread */
} pack_ctx;

static void pack_layers(void *vctx, int64_t l0, int64_t l1, int thread) {
  pack_ctx *p = vctx;
  int C = p->v->C, I = p->v->I;
  size_t CC = (size_t)C * C;
  float *tmp = p->tmp + (size_t)thread * 3 * CC;
  for (int64_t l = l0; l < l1; l++) {
    const clip_block_w *w = &p->w->blocks[l];
    clip_block_pack *k = &p->v->layers[l];
    float *d = p->v->block + (size_t)l * layer_floats(C, I), *qkv_f = d;
    float *qkv_b = qkv_f + round16(dlut_sgemm_packed_size(C, 3 * C));
    float *o_f = qkv_b + round16(dlut_sgemm_packed_size(3 * C, C));
    float *o_b = o_f + round16(dlut_sgemm_packed_size(C, C));
    float *fc1_f = o_b + round16(dlut_sgemm_packed_size(C, C));
    float *fc1_b = fc1_f + round16(dlut_sgemm_packed_size(C, I));
    float *fc2_f = fc1_b + round16(dlut_sgemm_packed_size(I, C));
    float *fc2_b = fc2_f + round16(dlut_sgemm_packed_size(I, C));
    float *bias = fc2_b + round16(dlut_sgemm_packed_size(C, I));
    /* [Wq; Wk; Wv] (3C, C): op(B) = its transpose (C, 3C) forward, itself backward */
    memcpy(tmp, w->q_w, CC * sizeof(float));
    memcpy(tmp + CC, w->k_w, CC * sizeof(float));
    memcpy(tmp + 2 * CC, w->v_w, CC * sizeof(float));
    dlut_sgemm_pack_b(qkv_f, tmp, C, 1, C, 3 * C);
    dlut_sgemm_pack_b(qkv_b, tmp, C, 0, 3 * C, C);
    dlut_sgemm_pack_b(o_f, w->o_w, C, 1, C, C); /* o_w (C, C) */
    dlut_sgemm_pack_b(o_b, w->o_w, C, 0, C, C);
    dlut_sgemm_pack_b(fc1_f, w->fc1_w, C, 1, C, I); /* fc1_w (I, C) */
    dlut_sgemm_pack_b(fc1_b, w->fc1_w, C, 0, I, C);
    dlut_sgemm_pack_b(fc2_f, w->fc2_w, I, 1, I, C); /* fc2_w (C, I) */
    dlut_sgemm_pack_b(fc2_b, w->fc2_w, I, 0, C, I);
    memcpy(bias, w->q_b, sizeof(float) * C);
    memcpy(bias + C, w->k_b, sizeof(float) * C);
    memcpy(bias + 2 * C, w->v_b, sizeof(float) * C);
    *k = (clip_block_pack){qkv_f, o_f, fc1_f, fc2_f, qkv_b, o_b, fc1_b, fc2_b, bias};
  }
}

/* The packing is a speed-up bought with memory: it is made only when it
 * takes at most a quarter of the machine's physical memory (ViT-L/14's
 * 2.4 GB on a 10 GB machine and up; ViT-B/16's 680 MB on 3 GB and up). */
static int vpack_affordable(size_t bytes) {
  const long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
  if (pages <= 0 || page <= 0) return 1; /* unknown: as before */
  return bytes <= (size_t)pages / 4 * (size_t)page;
}

static int vpack_make(dlut_clip *m) {
  int L = m->cfg.vision.layers, C = m->cfg.vision.width, I = m->cfg.vision.intermediate, nt = dlut_threads_get();
  if (!vpack_affordable((size_t)L * layer_floats(C, I) * sizeof(float))) return -1;
  struct clip_vpack *v = calloc(1, sizeof *v);
  float *tmp = NULL;
  if (!v) goto fail;
  *v = (struct clip_vpack){L, C, I, NULL, NULL};
  v->layers = calloc((size_t)L, sizeof *v->layers);
  v->block = aligned_alloc(64, (size_t)L * layer_floats(C, I) * sizeof(float));
  tmp = malloc(sizeof(float) * 3 * (size_t)C * C * nt);
  if (!v->layers || !v->block || !tmp) goto fail;
  pack_ctx p = {v, &m->vw, tmp};
  dlut_parallel_for(L, 1, pack_layers, &p);
  free(tmp);
  m->vpack = v;
  return 0;
fail:
  free(tmp);
  if (v) free(v->block), free(v->layers), free(v);
  return -1;
}

const clip_block_pack *clip_vpack_get(dlut_clip *m) {
  if (m->be != dlut_tensor_backend_cpu() || dlut_sgemm_kernel() != DLUT_SGEMM_AVX512 || m->vpack_failed) return NULL;
  const char *e = getenv("DLUT_CLIP_PACKED");
  if (e && strcmp(e, "0") == 0) return NULL;
  if (!m->vpack && vpack_make(m) != 0) {
    m->vpack_failed = 1;
    return NULL;
  }
  return m->vpack->layers;
}
