/* pickle.c - a safe, restricted unpickler for torch state dicts.
 *
 * torch.save(state_dict) pickles (protocol 2) an OrderedDict whose values
 * are tensors reduced to torch._utils._rebuild_tensor_v2(storage, offset,
 * size, stride, requires_grad, backward_hooks[, metadata]) and whose
 * storages are persistent ids ('storage', torch.FloatStorage, key,
 * location, numel) pointing at the zip entries <prefix>/data/<key>
 * (torch/serialization.py: _save, persistent_id; torch/_tensor.py:
 * __reduce_ex__). Python's pickle would import and call any global named
 * in the stream (os.system, ...); this machine knows a handful of globals
 * by name and never calls anything: REDUCE on an allowed global builds a
 * plain C value. Everything else - other globals, other opcodes, a
 * malformed stack - is an error naming the offset in data.pkl.
 *
 * Opcode semantics from CPython Lib/pickletools.py (the opcode table) and
 * Lib/pickle.py (_Unpickler.load_*). Allowed globals:
 *   collections.OrderedDict          -> an empty dict (the state dict, the hooks)
 *   torch._utils._rebuild_tensor_v2  -> a tensor view of a storage
 *   torch._utils._rebuild_parameter  -> its tensor argument (nn.Parameter)
 *   torch.{Float,Half,BFloat16,Double,Long,Int,Short,Char,Byte,Bool}Storage
 *                                    -> storage types inside persistent ids
 * All values live in one table freed at the end; caps bound memory by the
 * input size.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clip/ckpt_internal.h"
#include "dlut/error.h"

/* A ViT-H state dict needs ~20k objects; at ~600 bytes an object, 1 << 17
 * bounds a hostile pickle (every opcode a new object) to ~80 MB, where
 * 1 << 20 let a 2 MB file take 629 MB before it was refused. */
#define PK_MAX_OBJECTS (1 << 17)
#define PK_MAX_MEMO (1 << 17)
#define PK_MAX_STACK (1 << 17)
#define PK_MAX_GLOBAL 256

/* ==== Values ==== */

typedef enum pk_kind {
  PK_NONE,
  PK_BOOL,
  PK_INT,
  PK_FLOAT,
  PK_STR,
  PK_TUPLE,
  PK_LIST,
  PK_DICT,
  PK_GLOBAL,
  PK_STORAGE,
  PK_TENSOR
} pk_kind;

typedef enum pk_global {
  PKG_ORDERED_DICT = 1,
  PKG_REBUILD_TENSOR_V2,
  PKG_REBUILD_PARAMETER,
  PKG_STORAGE_TYPE
} pk_global;

typedef struct pk_obj {
  pk_kind kind;
  int64_t i;             /* INT, BOOL; GLOBAL: pk_global; STORAGE: numel */
  double f;              /* FLOAT */
  char *s;               /* STR (owned, NUL-terminated); STORAGE: key (owned) */
  struct pk_obj **items; /* TUPLE/LIST: n items; DICT: n pairs as 2n items (key, value); owned array */
  int n, cap;
  int stype;              /* GLOBAL storage type / STORAGE: index into k_storage */
  ckpt_pickle_tensor t;   /* TENSOR (name and storage_key unset; storage below) */
  struct pk_obj *storage; /* TENSOR: its STORAGE */
} pk_obj;

/* torch storage classes (torch/storage.py, _LegacyStorage subclasses) and
 * their element types. */
static const struct {
  const char *name;
  dlut_dtype dtype;
  int elsize;
} k_storage[] = {
    {"FloatStorage", DLUT_DTYPE_F32, 4},     {"HalfStorage", DLUT_DTYPE_F16, 2},
    {"BFloat16Storage", DLUT_DTYPE_BF16, 2}, {"DoubleStorage", DLUT_DTYPE_OTHER, 8},
    {"LongStorage", DLUT_DTYPE_OTHER, 8},    {"IntStorage", DLUT_DTYPE_OTHER, 4},
    {"ShortStorage", DLUT_DTYPE_OTHER, 2},   {"CharStorage", DLUT_DTYPE_OTHER, 1},
    {"ByteStorage", DLUT_DTYPE_OTHER, 1},    {"BoolStorage", DLUT_DTYPE_OTHER, 1},
};
#define N_STORAGE ((int)(sizeof k_storage / sizeof k_storage[0]))

typedef struct pk_vm {
  const uint8_t *p, *end, *start;
  const char *what;
  pk_obj **all; /* every object, for freeing */
  int nall, capall;
  pk_obj **stack;
  int sp, capstack;
  int *marks; /* stack heights at each MARK */
  int nmarks, capmarks;
  pk_obj **memo; /* sparse: NULL where never put */
  int64_t nmemo; /* slots allocated */
  int64_t nput;  /* distinct slots filled: len(memo) in pickle.py, where MEMOIZE puts */
} pk_vm;

static int vm_err(pk_vm *vm, const char *fmt, const char *arg) {
  char msg[512];
  snprintf(msg, sizeof msg, fmt, arg);
  return dlut_error("%s: data.pkl offset %ld: %s", vm->what, (long)(vm->p - vm->start), msg);
}

static int grow(void **arr, int *cap, int need, size_t elsize, int limit) {
  if (need <= *cap) return 0;
  if (need > limit) return -1;
  int c = *cap ? *cap : 16;
  while (c < need) c = c > limit / 2 ? limit : c * 2;
  void *n = ckpt_realloc(*arr, (size_t)c * elsize);
  if (!n) return -1;
  *arr = n;
  *cap = c;
  return 0;
}

static pk_obj *new_obj(pk_vm *vm, pk_kind kind) {
  if (grow((void **)&vm->all, &vm->capall, vm->nall + 1, sizeof *vm->all, PK_MAX_OBJECTS) != 0) {
    vm_err(vm, "%s", "too many objects (or out of memory)");
    return NULL;
  }
  pk_obj *o = ckpt_calloc(1, sizeof *o);
  if (!o) {
    vm_err(vm, "%s", "out of memory");
    return NULL;
  }
  o->kind = kind;
  vm->all[vm->nall++] = o;
  return o;
}

static int push(pk_vm *vm, pk_obj *o) {
  if (!o) return -1;
  if (grow((void **)&vm->stack, &vm->capstack, vm->sp + 1, sizeof *vm->stack, PK_MAX_STACK) != 0)
    return vm_err(vm, "%s", "stack too deep (or out of memory)");
  vm->stack[vm->sp++] = o;
  return 0;
}

static pk_obj *pop(pk_vm *vm) {
  int floor = vm->nmarks ? vm->marks[vm->nmarks - 1] : 0;
  if (vm->sp <= floor) {
    vm_err(vm, "%s", "stack underflow");
    return NULL;
  }
  return vm->stack[--vm->sp];
}

static pk_obj *top(pk_vm *vm) {
  int floor = vm->nmarks ? vm->marks[vm->nmarks - 1] : 0;
  if (vm->sp <= floor) {
    vm_err(vm, "%s", "stack underflow");
    return NULL;
  }
  return vm->stack[vm->sp - 1];
}

/* The object just below a popped MARK at stack height `from` (the list or
 * dict that APPENDS/SETITEMS extend). */
static pk_obj *below_mark(pk_vm *vm, int from) {
  int floor = vm->nmarks ? vm->marks[vm->nmarks - 1] : 0;
  if (from <= floor) {
    vm_err(vm, "%s", "stack underflow");
    return NULL;
  }
  return vm->stack[from - 1];
}

/* Items pushed since the last MARK: start index, count; pops the mark. */
static int pop_mark(pk_vm *vm, int *from) {
  if (vm->nmarks == 0) return vm_err(vm, "%s", "no MARK on the stack");
  *from = vm->marks[--vm->nmarks];
  return 0;
}

static int obj_append(pk_obj *o, pk_obj *item) {
  if (grow((void **)&o->items, &o->cap, o->n + 1, sizeof *o->items, PK_MAX_STACK) != 0) return -1;
  o->items[o->n++] = item;
  return 0;
}

static pk_obj *make_seq(pk_vm *vm, pk_kind kind, pk_obj **items, int n) {
  pk_obj *o = new_obj(vm, kind);
  if (!o) return NULL;
  if (n > 0) {
    o->items = ckpt_malloc((size_t)n * sizeof *o->items);
    if (!o->items) {
      vm_err(vm, "%s", "out of memory");
      return NULL;
    }
    memcpy(o->items, items, (size_t)n * sizeof *o->items);
  }
  o->n = o->cap = n;
  return o;
}

static int need(pk_vm *vm, size_t n) {
  if ((size_t)(vm->end - vm->p) < n) return vm_err(vm, "%s", "truncated (opcode argument runs past the end)");
  return 0;
}

static uint64_t le(const uint8_t *p, int n) {
  uint64_t v = 0;
  for (int i = n - 1; i >= 0; i--) v = v << 8 | p[i];
  return v;
}

/* A printable copy of an untrusted name for messages. */
static void printable(char *dst, size_t cap, const char *src, size_t n) {
  size_t k = 0;
  for (size_t i = 0; i < n && k + 1 < cap; i++) dst[k++] = src[i] >= 0x20 && src[i] < 0x7f ? src[i] : '?';
  dst[k] = '\0';
}

static pk_obj *make_global(pk_vm *vm, const char *mod, size_t ml, const char *name, size_t nl) {
#define IS(s, l, lit) ((l) == sizeof(lit) - 1 && memcmp((s), (lit), (l)) == 0)
  int g = 0, stype = -1;
  if (IS(mod, ml, "collections") && IS(name, nl, "OrderedDict"))
    g = PKG_ORDERED_DICT;
  else if (IS(mod, ml, "torch._utils") && IS(name, nl, "_rebuild_tensor_v2"))
    g = PKG_REBUILD_TENSOR_V2;
  else if (IS(mod, ml, "torch._utils") && IS(name, nl, "_rebuild_parameter"))
    g = PKG_REBUILD_PARAMETER;
  else if (IS(mod, ml, "torch"))
    for (int k = 0; k < N_STORAGE; k++)
      if (strlen(k_storage[k].name) == nl && memcmp(name, k_storage[k].name, nl) == 0) {
        g = PKG_STORAGE_TYPE;
        stype = k;
      }
#undef IS
  if (!g) {
    char m[PK_MAX_GLOBAL + 1], n[PK_MAX_GLOBAL + 1], both[2 * PK_MAX_GLOBAL + 2];
    printable(m, sizeof m, mod, ml);
    printable(n, sizeof n, name, nl);
    snprintf(both, sizeof both, "%s.%s", m, n);
    vm_err(vm, "refusing pickle global '%s' (not part of a torch state dict)", both);
    return NULL;
  }
  pk_obj *o = new_obj(vm, PK_GLOBAL);
  if (o) {
    o->i = g;
    o->stype = stype;
  }
  return o;
}

static int tuple_of_ints(const pk_obj *o, int64_t *out, int max) {
  if (!o || o->kind != PK_TUPLE || o->n > max) return -1;
  for (int i = 0; i < o->n; i++) {
    if (o->items[i]->kind != PK_INT) return -1;
    out[i] = o->items[i]->i;
  }
  return o->n;
}

/* REDUCE: callable(*args) for the allowed callables. */
static pk_obj *reduce(pk_vm *vm, pk_obj *fn, pk_obj *args) {
  if (fn->kind != PK_GLOBAL || args->kind != PK_TUPLE) {
    vm_err(vm, "%s", "REDUCE needs a global and an argument tuple");
    return NULL;
  }
  if (fn->i == PKG_ORDERED_DICT) {
    if (args->n != 0) {
      vm_err(vm, "%s", "OrderedDict() with arguments");
      return NULL;
    }
    return new_obj(vm, PK_DICT);
  }
  if (fn->i == PKG_REBUILD_PARAMETER) {
    /* _rebuild_parameter(data, requires_grad, backward_hooks) */
    if (args->n != 3 || args->items[0]->kind != PK_TENSOR) {
      vm_err(vm, "%s", "_rebuild_parameter expects (tensor, requires_grad, hooks)");
      return NULL;
    }
    return args->items[0];
  }
  if (fn->i == PKG_REBUILD_TENSOR_V2) {
    /* _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad, backward_hooks, metadata=None) */
    if ((args->n != 6 && args->n != 7) || args->items[0]->kind != PK_STORAGE || args->items[1]->kind != PK_INT) {
      vm_err(vm, "%s", "_rebuild_tensor_v2 expects (storage, offset, size, stride, requires_grad, hooks[, metadata])");
      return NULL;
    }
    pk_obj *t = new_obj(vm, PK_TENSOR);
    if (!t) return NULL;
    int nd = tuple_of_ints(args->items[2], t->t.shape, CKPT_MAX_DIMS);
    int ns = tuple_of_ints(args->items[3], t->t.stride, CKPT_MAX_DIMS);
    if (nd < 0 || ns != nd) {
      vm_err(vm, "_rebuild_tensor_v2: size and stride must be tuples of at most %s integers of equal length", "8");
      return NULL;
    }
    for (int k = 0; k < nd; k++)
      if (t->t.shape[k] < 0 || t->t.stride[k] < 0) {
        vm_err(vm, "%s", "_rebuild_tensor_v2: negative size or stride");
        return NULL;
      }
    if (args->items[1]->i < 0) {
      vm_err(vm, "%s", "_rebuild_tensor_v2: negative storage offset");
      return NULL;
    }
    pk_obj *st = args->items[0];
    t->t.ndim = nd;
    t->t.offset = args->items[1]->i;
    t->t.dtype = k_storage[st->stype].dtype;
    t->t.elsize = k_storage[st->stype].elsize;
    t->t.storage_numel = st->i;
    t->storage = st;
    return t;
  }
  vm_err(vm, "%s", "REDUCE on a storage type");
  return NULL;
}

/* BINPERSID: ('storage', storage_type, key, location, numel). */
static pk_obj *persistent_load(pk_vm *vm, pk_obj *pid) {
  if (pid->kind != PK_TUPLE || pid->n != 5 || pid->items[0]->kind != PK_STR ||
      strcmp(pid->items[0]->s, "storage") != 0 || pid->items[1]->kind != PK_GLOBAL ||
      pid->items[1]->i != PKG_STORAGE_TYPE || pid->items[2]->kind != PK_STR || pid->items[3]->kind != PK_STR ||
      pid->items[4]->kind != PK_INT || pid->items[4]->i < 0) {
    vm_err(vm, "%s", "persistent id is not ('storage', torch.<Type>Storage, key, location, numel)");
    return NULL;
  }
  pk_obj *st = new_obj(vm, PK_STORAGE);
  if (!st) return NULL;
  st->stype = pid->items[1]->stype;
  st->i = pid->items[4]->i;
  st->s = ckpt_strdup(pid->items[2]->s);
  if (!st->s) {
    vm_err(vm, "%s", "out of memory");
    return NULL;
  }
  return st;
}

static pk_obj *make_str(pk_vm *vm, const uint8_t *s, uint64_t n) {
  pk_obj *o = new_obj(vm, PK_STR);
  if (!o) return NULL;
  o->s = ckpt_malloc((size_t)n + 1);
  if (!o->s) {
    vm_err(vm, "%s", "out of memory");
    return NULL;
  }
  memcpy(o->s, s, (size_t)n);
  o->s[n] = '\0';
  o->i = (int64_t)n;
  return o;
}

static int memo_put(pk_vm *vm, uint64_t idx, pk_obj *o) {
  if (!o) return -1;
  if (idx >= PK_MAX_MEMO) return vm_err(vm, "%s", "memo index too large");
  if ((int64_t)idx >= vm->nmemo) {
    int64_t n = vm->nmemo ? vm->nmemo : 64;
    while (n <= (int64_t)idx) n *= 2;
    pk_obj **m = ckpt_realloc(vm->memo, (size_t)n * sizeof *m);
    if (!m) return vm_err(vm, "%s", "out of memory");
    memset(m + vm->nmemo, 0, (size_t)(n - vm->nmemo) * sizeof *m);
    vm->memo = m;
    vm->nmemo = n;
  }
  if (!vm->memo[idx]) vm->nput++;
  vm->memo[idx] = o;
  return 0;
}

static pk_obj *memo_get(pk_vm *vm, uint64_t idx) {
  if ((int64_t)idx >= vm->nmemo || idx >= PK_MAX_MEMO || !vm->memo[idx]) {
    vm_err(vm, "%s", "memo GET of an index never PUT");
    return NULL;
  }
  return vm->memo[idx];
}

static int dict_setitems(pk_vm *vm, pk_obj *d, pk_obj **kv, int n) {
  if (d->kind != PK_DICT) return vm_err(vm, "%s", "SETITEM(S) on something that is not a dict");
  if (n % 2) return vm_err(vm, "%s", "SETITEMS with an odd number of items");
  for (int k = 0; k < n; k++)
    if (obj_append(d, kv[k]) != 0) return vm_err(vm, "%s", "dict too large (or out of memory)");
  return 0;
}

/* ==== The machine ==== */

static int run(pk_vm *vm, pk_obj **result) {
  for (;;) {
    if (vm->p >= vm->end) return vm_err(vm, "%s", "truncated (no STOP opcode)");
    uint8_t op = *vm->p++;
    pk_obj *a, *b, *c;
    int from = 0;
    uint64_t n;
    switch (op) {
      case 0x80: /* PROTO */
        if (need(vm, 1)) return -1;
        if (*vm->p < 2 || *vm->p > 5) return vm_err(vm, "%s", "unsupported pickle protocol");
        vm->p++;
        break;
      case 0x95: /* FRAME (protocol 4): an 8-byte length hint; frames are transparent here */
        if (need(vm, 8)) return -1;
        vm->p += 8;
        break;
      case '.': /* STOP */
        if (!(a = pop(vm))) return -1;
        *result = a;
        return 0;
      case '(': /* MARK */
        if (grow((void **)&vm->marks, &vm->capmarks, vm->nmarks + 1, sizeof *vm->marks, PK_MAX_STACK) != 0)
          return vm_err(vm, "%s", "too many MARKs");
        vm->marks[vm->nmarks++] = vm->sp;
        break;
      case 'N': /* NONE */
        if (push(vm, new_obj(vm, PK_NONE))) return -1;
        break;
      case 0x88: /* NEWTRUE */
      case 0x89: /* NEWFALSE */
        if (!(a = new_obj(vm, PK_BOOL))) return -1;
        a->i = op == 0x88;
        if (push(vm, a)) return -1;
        break;
      case 'J': /* BININT: 4-byte signed */
      case 'K': /* BININT1: 1-byte unsigned */
      case 'M': /* BININT2: 2-byte unsigned */
      {
        int w = op == 'J' ? 4 : op == 'K' ? 1 : 2;
        if (need(vm, (size_t)w)) return -1;
        if (!(a = new_obj(vm, PK_INT))) return -1;
        n = le(vm->p, w);
        a->i = op == 'J' ? (int64_t)(int32_t)(uint32_t)n : (int64_t)n;
        vm->p += w;
        if (push(vm, a)) return -1;
        break;
      }
      case 0x8a: /* LONG1: n-byte two's complement little-endian */
      {
        if (need(vm, 1)) return -1;
        int w = *vm->p++;
        if (w > 8) return vm_err(vm, "%s", "LONG1 wider than 64 bits");
        if (need(vm, (size_t)w)) return -1;
        if (!(a = new_obj(vm, PK_INT))) return -1;
        n = w ? le(vm->p, w) : 0;
        if (w > 0 && w < 8 && (vm->p[w - 1] & 0x80)) n |= ~(uint64_t)0 << (8 * w); /* sign-extend */
        a->i = (int64_t)n;
        vm->p += w;
        if (push(vm, a)) return -1;
        break;
      }
      case 'G': /* BINFLOAT: 8-byte big-endian double */
      {
        if (need(vm, 8)) return -1;
        uint64_t bits = 0;
        for (int k = 0; k < 8; k++) bits = bits << 8 | vm->p[k];
        vm->p += 8;
        if (!(a = new_obj(vm, PK_FLOAT))) return -1;
        memcpy(&a->f, &bits, 8);
        if (push(vm, a)) return -1;
        break;
      }
      case 'X':  /* BINUNICODE: 4-byte length */
      case 0x8c: /* SHORT_BINUNICODE: 1-byte length */
      case 0x8d: /* BINUNICODE8: 8-byte length */
      {
        int w = op == 'X' ? 4 : op == 0x8c ? 1 : 8;
        if (need(vm, (size_t)w)) return -1;
        n = le(vm->p, w);
        vm->p += w;
        if (n > (uint64_t)(vm->end - vm->p)) return vm_err(vm, "%s", "truncated (string runs past the end)");
        if (push(vm, make_str(vm, vm->p, n))) return -1;
        vm->p += n;
        break;
      }
      case 'q': /* BINPUT */
      case 'r': /* LONG_BINPUT */
      {
        int w = op == 'q' ? 1 : 4;
        if (need(vm, (size_t)w)) return -1;
        n = le(vm->p, w);
        vm->p += w;
        if (memo_put(vm, n, top(vm))) return -1;
        break;
      }
      case 0x94: /* MEMOIZE (protocol 4): put at the next index */
        if (memo_put(vm, (uint64_t)vm->nput, top(vm))) return -1;
        break;
      case 'h': /* BINGET */
      case 'j': /* LONG_BINGET */
      {
        int w = op == 'h' ? 1 : 4;
        if (need(vm, (size_t)w)) return -1;
        n = le(vm->p, w);
        vm->p += w;
        if (push(vm, memo_get(vm, n))) return -1;
        break;
      }
      case 'c': /* GLOBAL: "module\nname\n" */
      {
        const uint8_t *m = vm->p, *nl1 = memchr(m, '\n', (size_t)(vm->end - m));
        if (!nl1 || nl1 - m > PK_MAX_GLOBAL) return vm_err(vm, "%s", "GLOBAL: bad module name");
        const uint8_t *nm = nl1 + 1, *nl2 = memchr(nm, '\n', (size_t)(vm->end - nm));
        if (!nl2 || nl2 - nm > PK_MAX_GLOBAL) return vm_err(vm, "%s", "GLOBAL: bad name");
        vm->p = nl2 + 1;
        if (push(vm, make_global(vm, (const char *)m, (size_t)(nl1 - m), (const char *)nm, (size_t)(nl2 - nm))))
          return -1;
        break;
      }
      case 0x93: /* STACK_GLOBAL (protocol 4): module and name strings on the stack */
        if (!(b = pop(vm)) || !(a = pop(vm))) return -1;
        if (a->kind != PK_STR || b->kind != PK_STR) return vm_err(vm, "%s", "STACK_GLOBAL needs two strings");
        if (a->i > PK_MAX_GLOBAL || b->i > PK_MAX_GLOBAL) return vm_err(vm, "%s", "STACK_GLOBAL: name too long");
        if (push(vm, make_global(vm, a->s, (size_t)a->i, b->s, (size_t)b->i))) return -1;
        break;
      case ')': /* EMPTY_TUPLE */
        if (push(vm, make_seq(vm, PK_TUPLE, NULL, 0))) return -1;
        break;
      case 0x85: /* TUPLE1 */
      case 0x86: /* TUPLE2 */
      case 0x87: /* TUPLE3 */
      {
        int k = op - 0x84;
        int floor = vm->nmarks ? vm->marks[vm->nmarks - 1] : 0;
        if (vm->sp - floor < k) return vm_err(vm, "%s", "stack underflow");
        vm->sp -= k;
        if (push(vm, make_seq(vm, PK_TUPLE, vm->stack + vm->sp, k))) return -1;
        break;
      }
      case 't': /* TUPLE: items since MARK */
      case 'l': /* LIST */
        if (pop_mark(vm, &from)) return -1;
        a = make_seq(vm, op == 't' ? PK_TUPLE : PK_LIST, vm->stack + from, vm->sp - from);
        vm->sp = from;
        if (push(vm, a)) return -1;
        break;
      case ']': /* EMPTY_LIST */
        if (push(vm, new_obj(vm, PK_LIST))) return -1;
        break;
      case '}': /* EMPTY_DICT */
        if (push(vm, new_obj(vm, PK_DICT))) return -1;
        break;
      case 'd': /* DICT: key/value pairs since MARK */
        if (pop_mark(vm, &from)) return -1;
        if (!(a = new_obj(vm, PK_DICT))) return -1;
        if (dict_setitems(vm, a, vm->stack + from, vm->sp - from)) return -1;
        vm->sp = from;
        if (push(vm, a)) return -1;
        break;
      case 'a': /* APPEND */
        if (!(b = pop(vm)) || !(a = top(vm))) return -1;
        if (a->kind != PK_LIST) return vm_err(vm, "%s", "APPEND to something that is not a list");
        if (obj_append(a, b)) return vm_err(vm, "%s", "list too large (or out of memory)");
        break;
      case 'e': /* APPENDS */
        if (pop_mark(vm, &from)) return -1;
        if (!(a = below_mark(vm, from))) return -1;
        if (a->kind != PK_LIST) return vm_err(vm, "%s", "APPENDS to something that is not a list");
        for (int k = from; k < vm->sp; k++)
          if (obj_append(a, vm->stack[k])) return vm_err(vm, "%s", "list too large (or out of memory)");
        vm->sp = from;
        break;
      case 's': /* SETITEM */
        if (!(c = pop(vm)) || !(b = pop(vm)) || !(a = top(vm))) return -1;
        {
          pk_obj *kv[2] = {b, c};
          if (dict_setitems(vm, a, kv, 2)) return -1;
        }
        break;
      case 'u': /* SETITEMS */
        if (pop_mark(vm, &from)) return -1;
        if (!(a = below_mark(vm, from))) return -1;
        if (dict_setitems(vm, a, vm->stack + from, vm->sp - from)) return -1;
        vm->sp = from;
        break;
      case 'Q': /* BINPERSID */
        if (!(a = pop(vm))) return -1;
        if (push(vm, persistent_load(vm, a))) return -1;
        break;
      case 'R': /* REDUCE */
        if (!(b = pop(vm)) || !(a = pop(vm))) return -1;
        if (push(vm, reduce(vm, a, b))) return -1;
        break;
      case 'b': /* BUILD: obj.__setstate__(state); only the state dict's _metadata attribute is expected */
        if (!(b = pop(vm)) || !(a = top(vm))) return -1;
        if (a->kind != PK_DICT) return vm_err(vm, "%s", "BUILD on something that is not a dict");
        break;
      default: {
        char hex[8];
        snprintf(hex, sizeof hex, "0x%02x", op);
        return vm_err(vm, "refusing pickle opcode %s (not used by torch state dicts)", hex);
      }
    }
  }
}

void ckpt_pickle_free(ckpt_pickle_tensor *t, int count) {
  if (!t) return;
  for (int i = 0; i < count; i++) {
    free(t[i].name);
    free(t[i].storage_key);
  }
  free(t);
}

int ckpt_pickle_state_dict(const uint8_t *pkl, size_t size, const char *what, ckpt_pickle_tensor **out, int *count) {
  pk_vm vm;
  memset(&vm, 0, sizeof vm);
  vm.p = vm.start = pkl;
  vm.end = pkl + size;
  vm.what = what;
  ckpt_pickle_tensor *res = NULL;
  int nres = 0, rc = -1;
  *out = NULL;
  *count = 0;
  if (size > CKPT_MAX_PICKLE) {
    dlut_error("%s: data.pkl is %zu bytes (at most %u)", what, size, CKPT_MAX_PICKLE);
    goto done;
  }
  /* Allocated up front so that `stack + from` is never arithmetic on NULL. */
  if (grow((void **)&vm.stack, &vm.capstack, 64, sizeof *vm.stack, PK_MAX_STACK) != 0) {
    dlut_error("%s: out of memory", what);
    goto done;
  }
  pk_obj *root = NULL;
  if (run(&vm, &root) != 0) goto done;
  if (root->kind != PK_DICT) {
    dlut_error("%s: data.pkl does not hold a state dict (a dict of tensors)", what);
    goto done;
  }
  int pairs = root->n / 2;
  res = ckpt_calloc(pairs > 0 ? (size_t)pairs : 1, sizeof *res);
  if (!res) {
    dlut_error("%s: out of memory", what);
    goto done;
  }
  for (int k = 0; k < pairs; k++) {
    pk_obj *key = root->items[2 * k], *val = root->items[2 * k + 1];
    if (key->kind != PK_STR || key->i == 0 || key->i > CKPT_MAX_NAME || (size_t)key->i != strlen(key->s)) {
      dlut_error("%s: state dict key %d is not a tensor name", what, k);
      goto done;
    }
    if (val->kind != PK_TENSOR) {
      dlut_error("%s: state dict entry '%s' is not a tensor", what, key->s);
      goto done;
    }
    res[nres] = val->t;
    res[nres].name = ckpt_strdup(key->s);
    res[nres].storage_key = ckpt_strdup(val->storage->s);
    nres++;
    if (!res[nres - 1].name || !res[nres - 1].storage_key) {
      dlut_error("%s: out of memory", what);
      goto done;
    }
  }
  *out = res;
  *count = nres;
  res = NULL;
  rc = 0;
done:
  ckpt_pickle_free(res, nres);
  for (int i = 0; i < vm.nall; i++) {
    free(vm.all[i]->s);
    free(vm.all[i]->items);
    free(vm.all[i]);
  }
  free(vm.all);
  free(vm.stack);
  free(vm.marks);
  free(vm.memo);
  return rc;
}
