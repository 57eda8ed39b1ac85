/* dlut/ckpt.h - Hugging Face checkpoint folders: config.json and weights.
 *
 * CONTRACT (the CLIP model code uses these; the loader owns this header and
 * may add to it, but keeps these meanings):
 *
 *   dlut_ckpt *ck = dlut_ckpt_open("models/clip");   // model.safetensors, else pytorch_model.bin
 *   const float *w = dlut_ckpt_f32(ck, "vision_model.embeddings.patch_embedding.weight",
 *                                  4, (int64_t[]){768, 3, 32, 32});
 *   // w is NULL (with an error naming the tensor) if it is missing, has
 *   // another shape, or the file is truncated. F32 tensors point straight
 *   // into the memory-mapped file (one copy of the weights); F16/BF16 are
 *   // converted once to F32 into memory the checkpoint owns.
 *   cJSON *cfg = dlut_ckpt_config(ck);               // parsed config.json, owned by ck
 *   dlut_ckpt_close(ck);                             // unmaps, frees conversions
 *
 * Details (beyond the contract):
 *   - Layouts, in order of preference: model.safetensors,
 *     model.safetensors.index.json (shards), pytorch_model.bin,
 *     pytorch_model.bin.index.json (shards). model_dir may also name a
 *     weights file directly (*.safetensors, *.bin/.pt/.pth, or a
 *     *.index.json); config.json then comes from that file's folder.
 *   - dlut_ckpt_f32 with ndim < 0 skips the shape check (any shape).
 *     Other dtypes (I64 position_ids buffers, ...) are listed with
 *     DLUT_DTYPE_OTHER and refused by dlut_ckpt_f32.
 *   - dlut_tensor_info.data is the raw little-endian bytes (may be
 *     unaligned; for .bin strided views, an owned contiguous copy); use
 *     dlut_ckpt_f32 for floats.
 *   - Errors: NULL with dlut_last_error() naming the file, and the tensor
 *     or zip entry where there is one.
 *   - Pointers returned stay valid until dlut_ckpt_close. dlut_ckpt_f32 may
 *     be called from several threads (conversions are done under a lock).
 *   - pytorch_model.bin storages are CRC-32 checked the first time a tensor
 *     from them is read through dlut_ckpt_f32 (not by dlut_ckpt_find).
 *   - The files must not be modified while open (they are mapped; a file
 *     truncated underneath a mapping faults on access, SIGBUS).
 *   - Limits: 8 dims, 2^20 tensors, names up to 1024 bytes, safetensors
 *     header up to 100 MB, data.pkl up to 256 MB. See docs/checkpoints.md.
 *
 * pytorch_model.bin is read with a small, safe unpickler that understands
 * only what torch.save writes for a state dict (OrderedDict of tensors
 * rebuilt by torch._utils._rebuild_tensor_v2 over typed storages) and
 * rejects any other global or opcode.
 */
#ifndef DLUT_CKPT_H
#define DLUT_CKPT_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct dlut_ckpt dlut_ckpt;
struct cJSON;

typedef enum dlut_dtype { DLUT_DTYPE_F32 = 1, DLUT_DTYPE_F16, DLUT_DTYPE_BF16, DLUT_DTYPE_OTHER } dlut_dtype;

typedef struct dlut_tensor_info {
  const char *name; /* full state-dict name */
  dlut_dtype dtype;
  int ndim; /* 0..8 */
  int64_t shape[8];
  const void *data; /* raw bytes in the mapped file (contiguous, row-major) */
  size_t nbytes;
} dlut_tensor_info;

dlut_ckpt *dlut_ckpt_open(const char *model_dir);
void dlut_ckpt_close(dlut_ckpt *ck);

/* config.json, parsed (NULL if the folder has none; open fails then). */
struct cJSON *dlut_ckpt_config(const dlut_ckpt *ck);

/* Tensor lookup; NULL if absent (no error set). */
const dlut_tensor_info *dlut_ckpt_find(const dlut_ckpt *ck, const char *name);
int dlut_ckpt_count(const dlut_ckpt *ck);
const dlut_tensor_info *dlut_ckpt_at(const dlut_ckpt *ck, int i);

/* The tensor as F32 with the expected shape (ndim, shape), or NULL with an
 * error naming the tensor and what was wrong. */
const float *dlut_ckpt_f32(dlut_ckpt *ck, const char *name, int ndim, const int64_t *shape);

/* The weights file (first shard) the tensors came from, for messages. */
const char *dlut_ckpt_weights_path(const dlut_ckpt *ck);

/* "F32", "F16", "BF16" or "other". */
const char *dlut_dtype_name(dlut_dtype d);

#ifdef __cplusplus
}
#endif
#endif
