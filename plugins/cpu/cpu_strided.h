/* CPU backend — strided iteration, f32 load/store and call-checking helpers shared by the non-oneDNN
 * op files (norm, modulate, rope, activation, elementwise, layout).
 *
 * Two engines cover almost every op that is not a reduction:
 *  - cpu_ew_run: element-wise float ops. Operands are described on the output's shape (broadcast dims
 *    carry stride 0); each chunk of up to CPU_CHUNK elements is converted to f32, handed to a kernel
 *    that sees only dense f32 arrays, and converted back. f32 operands with unit inner stride are used
 *    in place, so the common case copies nothing. Chunks are read whole before they are written, which
 *    makes an output that is exactly an input view safe.
 *  - cpu_raw_copy: dtype-preserving strided copies (copy, slice, permute, concat, patchify, …). They are
 *    all "a view of the source, iterated in the destination's order", so each op only builds strides.
 * Both collapse dims first and split the work into 2-D blocks (rows × cols of the two innermost dims)
 * that threads take in contiguous ranges, so a thread walks memory in order and pays for index
 * arithmetic once per block, not per element. */
#ifndef DIO_CPU_STRIDED_H
#define DIO_CPU_STRIDED_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "cpu_internal.h"

#define CPU_MAX_ITER_DIMS 16 /* upsample and patchify split each dim in two */
#define CPU_MAX_OPERANDS 4
#define CPU_CHUNK 1024  /* f32 elements per kernel call in the element-wise engine */
#ifndef CPU_GRAIN       /* a test build may lower it to run small shapes on many threads */
#define CPU_GRAIN 32768 /* elements of streaming work below which another thread is not worth it */
#endif

/* 1 when the caller's parameter struct holds `field` (ops.h: read only the fields that fit). */
#define CPU_PARAM_FITS(p, type, field)                                                                       \
    ((p) != NULL &&                                                                                          \
     (size_t)((const type *)(p))->struct_size >= offsetof(type, field) + sizeof(((const type *)0)->field))
/* The same for element i of an array field. */
#define CPU_PARAM_FITS_ELEM(p, type, field, i)                                                               \
    ((p) != NULL && (size_t)((const type *)(p))->struct_size >=                                              \
                        offsetof(type, field) + ((size_t)(i) + 1) * sizeof(((const type *)0)->field[0]))

/* ---- threads ---- */

/* Threads worth using for `work` units when each thread should get at least `grain` of them. */
int cpu_threads_for(const cpu_backend *be, int64_t work, int64_t grain);

/* Part `part` of `parts` of [0, n): contiguous, sizes differing by at most one. */
static inline void cpu_split_range(int64_t n, int parts, int part, int64_t *lo, int64_t *hi)
{
    int64_t q = n / parts, r = n % parts;
    *lo = part * q + (part < r ? part : r);
    *hi = *lo + q + (part < r ? 1 : 0);
}

/* Per-thread scratch: n_threads slices of `per_thread` floats, 64-byte aligned. NULL when out of
 * memory; free with cpu_scratch_free. */
float *cpu_scratch_alloc(const cpu_backend *be, int n_threads, int64_t per_thread, int64_t *slice);
void cpu_scratch_free(const cpu_backend *be, float *p);

/* ---- addressing ---- */

/* Byte address of the element at element offset `off` of t. */
static inline char *cpu_elem_ptr(const dio_tensor *t, int64_t off)
{
    return (char *)cpu_tensor_data(t) + off * (int64_t)dio_dtype_size(t->dtype);
}

/* Element offset of row-major linear index `index` over (shape, stride) of nd dims. */
int64_t cpu_offset_of(int64_t index, int nd, const int64_t *shape, const int64_t *stride);

/* 1 when a and b are the same view (buffer, offset, dtype, shape and the strides of non-trivial dims). */
int cpu_same_view(const dio_tensor *a, const dio_tensor *b);

/* ---- f32 load / store of a strided run (element 0 at byte address `p`, stride in elements) ---- */

void cpu_load_run(float *dst, const void *p, int32_t dtype, int64_t stride, int64_t n);
void cpu_store_run(void *p, int32_t dtype, int64_t stride, const float *src, int64_t n);
/* p itself when it is f32 with unit stride, else tmp after loading into it. */
static inline const float *cpu_view_run(float *tmp, const void *p, int32_t dtype, int64_t stride, int64_t n)
{
    if (dtype == DIO_DTYPE_F32 && (stride == 1 || n <= 1)) return (const float *)p;
    cpu_load_run(tmp, p, dtype, stride, n);
    return tmp;
}

/* ---- plans: collapsed dims split into 2-D blocks ---- */

typedef struct cpu_plan {
    int k;  /* operands; operand 0 is the destination, whose order the iteration follows */
    int nd; /* >= 2; the blocks cover dims nd-2 (rows) and nd-1 (cols) */
    int64_t numel;
    int64_t shape[CPU_MAX_ITER_DIMS];
    int64_t stride[CPU_MAX_OPERANDS][CPU_MAX_ITER_DIMS];
    int64_t rb, cb;                                       /* block extent in rows and cols */
    int64_t n_tasks;                                      /* blocks */
    int64_t tshape[CPU_MAX_ITER_DIMS];                    /* task space: outer dims, row blocks, col blocks */
    int64_t tstride[CPU_MAX_OPERANDS][CPU_MAX_ITER_DIMS]; /* element offset step per task index */
} cpu_plan;

typedef struct cpu_plan_iter {
    int64_t idx[CPU_MAX_ITER_DIMS];
    int64_t off[CPU_MAX_OPERANDS]; /* element offset of the block's first element, per operand */
    int64_t rows, cols;
} cpu_plan_iter;

/* Builds a plan over `shape` (nd <= CPU_MAX_ITER_DIMS) for k operands. block: target elements per block.
 * transpose_src >= 0 names an operand whose unit-stride dim, when it is not the destination's, is
 * brought next to the destination's so that blocks become cache-sized tiles of a transpose. */
void cpu_plan_make(cpu_plan *p, int nd, const int64_t *shape, int k, int64_t strides[][CPU_MAX_ITER_DIMS],
                   int64_t block, int transpose_src);
void cpu_plan_seek(const cpu_plan *p, cpu_plan_iter *it, int64_t task);
void cpu_plan_next(const cpu_plan *p, cpu_plan_iter *it);

/* ---- engines ---- */

typedef struct cpu_ew_operand {
    char *data; /* element 0 */
    int32_t dtype;
    int64_t stride[CPU_MAX_ITER_DIMS];
} cpu_ew_operand;

/* out[i] = f(in[0][i], …) for i < n; in[j] and out may be the same array (exact in place). */
typedef void (*cpu_ew_fn)(const void *ctx, int64_t n, const float *const *in, float *out);

/* Describes t on an nd-dim output shape: dims aligned at the end, size-1 dims broadcast (stride 0). */
void cpu_ew_operand_init(cpu_ew_operand *op, const dio_tensor *t, int nd);
/* Runs fn over `shape`; n_in <= CPU_MAX_OPERANDS - 1; dtypes may be any float dtype (f8 too). */
void cpu_ew_run(const cpu_backend *be, int nd, const int64_t *shape, int n_in, const cpu_ew_operand *in,
                const cpu_ew_operand *out, cpu_ew_fn fn, const void *ctx);

/* dst[i] = src[i] bit for bit, elements of esize bytes, element strides, in dst order. */
void cpu_raw_copy(const cpu_backend *be, int nd, const int64_t *shape, void *dst, const int64_t *dstride,
                  const void *src, const int64_t *sstride, size_t esize);

/* ---- vectorisable math ---- */

/* exp(x) in f32, branch-free so that loops calling it vectorise (libm's expf is an opaque call):
 * n = round(x / ln2), r = x - n·ln2 in two parts (Cody–Waite), exp(r) by its Taylor polynomial of degree
 * 7 (|r| <= ln2/2, truncation below 0.2 ulp), then 2^n applied as two factors so that subnormal results
 * and overflow to infinity come out of the multiplications. About 1 ulp; NaN in, NaN out. */
static inline float cpu_expf(float x)
{
    float xc = x > 88.8f ? 88.8f : x;
    float n, r, r2, p, s1, s2;
    int32_t ni, n1, n2;
    uint32_t u1, u2;
    xc = xc < -104.0f ? -104.0f : xc;
    xc = x == x ? xc : 0.0f;
    n = (xc * 1.44269504088896341f + 12582912.0f) - 12582912.0f; /* round to nearest via 1.5·2^23 */
    r = fmaf(n, -0.693145751953125f, xc);
    r = fmaf(n, -1.42860682030941723e-6f, r);
    r2 = r * r; /* Estrin's scheme: a short dependency chain keeps vector loops throughput-bound */
    p = fmaf(fmaf(fmaf(1.98412698412698413e-4f, r, 1.38888888888888889e-3f), r2,
                  fmaf(8.33333333333333333e-3f, r, 4.16666666666666667e-2f)),
             r2 * r2, fmaf(fmaf(1.66666666666666667e-1f, r, 0.5f), r2, r + 1.0f));
    ni = (int32_t)n;
    n1 = ni / 2;
    n2 = ni - n1;
    u1 = (uint32_t)(n1 + 127) << 23;
    u2 = (uint32_t)(n2 + 127) << 23;
    memcpy(&s1, &u1, sizeof(s1));
    memcpy(&s2, &u2, sizeof(s2));
    p = p * s1 * s2;
    return x == x ? p : x;
}

/* ---- call checks: each returns DIO_OK or sets a message naming op and tensor ---- */

/* f32, f16 or bf16 (activations, and the norm weights that may differ from them); else NOT_SUPPORTED. */
dio_status cpu_check_float_act(const cpu_backend *be, const char *op, const char *what, const dio_tensor *t);
dio_status cpu_check_dtype_as(const cpu_backend *be, const char *op, const char *what, const dio_tensor *t,
                              const char *ref_what, const dio_tensor *ref);
dio_status cpu_check_shape_as(const cpu_backend *be, const char *op, const char *what, const dio_tensor *t,
                              const char *ref_what, const dio_tensor *ref);
dio_status cpu_check_ndim(const cpu_backend *be, const char *op, const char *what, const dio_tensor *t,
                          int ndim);
/* A 1-D tensor of n elements (weights, gamma, bias). */
dio_status cpu_check_vector(const cpu_backend *be, const char *op, const char *what, const dio_tensor *t,
                            int64_t n);
/* The element count fits in int64 (views with zero strides can describe more elements than bytes). */
dio_status cpu_check_numel(const cpu_backend *be, const char *op, const char *what, const dio_tensor *t);

#endif
