/* CPU backend — the strided machinery shared by the non-oneDNN op files (design in cpu_strided.h).
 *
 * Conversions on the hot paths are written so the compiler vectorises them: bf16 is a shift one way
 * and a branch-free round-to-nearest-even the other; f16 uses the F16C instructions when the build
 * targets them (bit-identical to cpu_common.c's converters for every non-NaN value, which the
 * slow paths and the other dtypes still use). Work is split into contiguous ranges of blocks, one per
 * thread, so each thread streams through memory and seeks its start once. */
#include <omp.h>
#include <stdint.h>
#include <string.h>

#if defined(__F16C__) && defined(__AVX__)
#include <immintrin.h>
#define CPU_HAVE_F16C 1
#endif

#include "cpu_strided.h"

#define CPU_TILE 64 /* transpose tiles are CPU_TILE x CPU_TILE elements */

/* ---- threads and scratch ---- */

int cpu_threads_for(const cpu_backend *be, int64_t work, int64_t grain)
{
    int64_t n = grain > 0 ? work / grain : work;
    int max = (be && be->n_threads > 0) ? be->n_threads : 1;
    if (n < 1) n = 1;
    return n < (int64_t)max ? (int)n : max;
}

float *cpu_scratch_alloc(const cpu_backend *be, int n_threads, int64_t per_thread, int64_t *slice)
{
    int64_t s = (per_thread + 15) & ~(int64_t)15; /* keep every slice 64-byte aligned */
    if (s < 16) s = 16;
    *slice = s;
    if (n_threads < 1 || (uint64_t)s > (uint64_t)(SIZE_MAX / sizeof(float)) / (uint64_t)n_threads)
        return NULL;
    return be->host->alloc_aligned((size_t)s * (size_t)n_threads * sizeof(float), 64);
}

void cpu_scratch_free(const cpu_backend *be, float *p)
{
    if (p) be->host->free_aligned(p);
}

/* ---- addressing ---- */

int64_t cpu_offset_of(int64_t index, int nd, const int64_t *shape, const int64_t *stride)
{
    int64_t off = 0;
    for (int d = nd - 1; d >= 0 && index; d--) {
        if (shape[d] <= 1) continue;
        off += (index % shape[d]) * stride[d];
        index /= shape[d];
    }
    return off;
}

int cpu_same_view(const dio_tensor *a, const dio_tensor *b)
{
    if (a->buffer != b->buffer || a->offset != b->offset || a->dtype != b->dtype || !cpu_same_shape(a, b))
        return 0;
    for (int i = 0; i < a->ndim; i++)
        if (a->shape[i] > 1 && a->stride[i] != b->stride[i]) return 0;
    return 1;
}

/* ---- f32 load / store ---- */

static inline float bf16_to_f32(uint16_t h)
{
    uint32_t u = (uint32_t)h << 16;
    float f;
    memcpy(&f, &u, sizeof(f));
    return f;
}

/* Same rounding as cpu_f32_to_bf16, without branches. */
static inline uint16_t f32_to_bf16(float f)
{
    uint32_t u, r, q;
    memcpy(&u, &f, sizeof(u));
    r = (u + 0x7fffu + ((u >> 16) & 1u)) >> 16;
    q = (u >> 16) | 0x40u;
    return (uint16_t)(((u & 0x7fffffffu) > 0x7f800000u) ? q : r);
}

void cpu_load_run(float *dst, const void *p, int32_t dtype, int64_t stride, int64_t n)
{
    int64_t i = 0;
    switch (dtype) {
    case DIO_DTYPE_F32: {
        const float *s = p;
        if (stride == 1)
            memcpy(dst, s, (size_t)n * sizeof(float));
        else
            for (i = 0; i < n; i++) dst[i] = s[i * stride];
        return;
    }
    case DIO_DTYPE_BF16: {
        const uint16_t *s = p;
        if (stride == 1)
            for (i = 0; i < n; i++) dst[i] = bf16_to_f32(s[i]);
        else
            for (i = 0; i < n; i++) dst[i] = bf16_to_f32(s[i * stride]);
        return;
    }
    case DIO_DTYPE_F16: {
        const uint16_t *s = p;
        if (stride == 1) {
#ifdef CPU_HAVE_F16C
            for (; i + 8 <= n; i += 8)
                _mm256_storeu_ps(dst + i,
                                 _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(const void *)(s + i))));
#endif
            for (; i < n; i++) dst[i] = cpu_f16_to_f32(s[i]);
        } else {
            for (i = 0; i < n; i++) dst[i] = cpu_f16_to_f32(s[i * stride]);
        }
        return;
    }
    default:
        for (i = 0; i < n; i++) dst[i] = cpu_load_f32(p, dtype, i * stride);
        return;
    }
}

void cpu_store_run(void *p, int32_t dtype, int64_t stride, const float *src, int64_t n)
{
    int64_t i = 0;
    switch (dtype) {
    case DIO_DTYPE_F32: {
        float *d = p;
        if (d == src) return; /* computed in place */
        if (stride == 1)
            memcpy(d, src, (size_t)n * sizeof(float));
        else
            for (i = 0; i < n; i++) d[i * stride] = src[i];
        return;
    }
    case DIO_DTYPE_BF16: {
        uint16_t *d = p;
        if (stride == 1)
            for (i = 0; i < n; i++) d[i] = f32_to_bf16(src[i]);
        else
            for (i = 0; i < n; i++) d[i * stride] = f32_to_bf16(src[i]);
        return;
    }
    case DIO_DTYPE_F16: {
        uint16_t *d = p;
        if (stride == 1) {
#ifdef CPU_HAVE_F16C
            for (; i + 8 <= n; i += 8)
                _mm_storeu_si128((__m128i *)(void *)(d + i),
                                 _mm256_cvtps_ph(_mm256_loadu_ps(src + i), _MM_FROUND_TO_NEAREST_INT));
#endif
            for (; i < n; i++) d[i] = cpu_f32_to_f16(src[i]);
        } else {
            for (i = 0; i < n; i++) d[i * stride] = cpu_f32_to_f16(src[i]);
        }
        return;
    }
    default:
        for (i = 0; i < n; i++) cpu_store_f32(p, dtype, i * stride, src[i]);
        return;
    }
}

/* ---- plans ---- */

static void plan_swap_dims(cpu_plan *p, int a, int b)
{
    int64_t t = p->shape[a];
    p->shape[a] = p->shape[b];
    p->shape[b] = t;
    for (int j = 0; j < p->k; j++) {
        t = p->stride[j][a];
        p->stride[j][a] = p->stride[j][b];
        p->stride[j][b] = t;
    }
}

/* Merges dims d and d+1 wherever every operand steps through both as one. */
static void plan_collapse(cpu_plan *p, int *n)
{
    for (int d = *n - 2; d >= 0; d--) {
        int ok = 1;
        for (int j = 0; j < p->k && ok; j++) ok = p->stride[j][d] == p->stride[j][d + 1] * p->shape[d + 1];
        if (!ok) continue;
        p->shape[d] *= p->shape[d + 1];
        for (int j = 0; j < p->k; j++) p->stride[j][d] = p->stride[j][d + 1];
        for (int e = d + 1; e < *n - 1; e++) {
            p->shape[e] = p->shape[e + 1];
            for (int j = 0; j < p->k; j++) p->stride[j][e] = p->stride[j][e + 1];
        }
        (*n)--;
    }
}

static inline int64_t abs64(int64_t v)
{
    return v < 0 ? -v : v;
}

void cpu_plan_make(cpu_plan *p, int nd, const int64_t *shape, int k, int64_t strides[][CPU_MAX_ITER_DIMS],
                   int64_t block, int transpose_src)
{
    int n = 0, tiled = 0;
    int64_t R, C;
    p->k = k;
    p->numel = 1;
    p->n_tasks = 0;
    for (int d = 0; d < nd; d++) p->numel *= shape[d];
    if (p->numel == 0) return;
    for (int d = 0; d < nd; d++) {
        if (shape[d] == 1) continue;
        p->shape[n] = shape[d];
        for (int j = 0; j < k; j++) p->stride[j][n] = strides[j][d];
        n++;
    }
    /* Walk the destination in memory order: dims by decreasing |stride| (stable). */
    for (int i = 1; i < n; i++)
        for (int j = i; j > 0 && abs64(p->stride[0][j - 1]) < abs64(p->stride[0][j]); j--)
            plan_swap_dims(p, j - 1, j);
    plan_collapse(p, &n);
    /* A transpose: the destination is contiguous along the last dim and the source along another one.
     * Bring that one next to the last so that 64×64 blocks touch 64 lines on each side. */
    if (transpose_src > 0 && n >= 2 && abs64(p->stride[0][n - 1]) == 1 &&
        abs64(p->stride[transpose_src][n - 1]) > 1 && p->shape[n - 1] >= 16) {
        int found = -1;
        for (int d = n - 2; d >= 0 && found < 0; d--)
            if (abs64(p->stride[transpose_src][d]) == 1 && p->shape[d] >= 16) found = d;
        if (found >= 0) {
            for (int d = found; d < n - 2; d++) plan_swap_dims(p, d, d + 1);
            tiled = 1;
        }
    }
    while (n < 2) {
        for (int e = n; e > 0; e--) {
            p->shape[e] = p->shape[e - 1];
            for (int j = 0; j < k; j++) p->stride[j][e] = p->stride[j][e - 1];
        }
        p->shape[0] = 1;
        for (int j = 0; j < k; j++) p->stride[j][0] = 0;
        n++;
    }
    p->nd = n;
    R = p->shape[n - 2];
    C = p->shape[n - 1];
    if (tiled) {
        p->rb = CPU_TILE;
        p->cb = CPU_TILE;
    } else {
        p->cb = C < block ? C : block;
        p->rb = block / p->cb;
        if (p->rb < 1) p->rb = 1;
        if (p->rb > R) p->rb = R;
    }
    p->n_tasks = 1;
    for (int d = 0; d < n; d++) {
        int64_t ext = d < n - 2 ? 1 : (d == n - 2 ? p->rb : p->cb);
        p->tshape[d] = (p->shape[d] + ext - 1) / ext;
        for (int j = 0; j < k; j++) p->tstride[j][d] = p->stride[j][d] * ext;
        p->n_tasks *= p->tshape[d];
    }
}

static inline void plan_extent(const cpu_plan *p, cpu_plan_iter *it)
{
    int n = p->nd;
    int64_t r0 = it->idx[n - 2] * p->rb, c0 = it->idx[n - 1] * p->cb;
    it->rows = p->shape[n - 2] - r0 < p->rb ? p->shape[n - 2] - r0 : p->rb;
    it->cols = p->shape[n - 1] - c0 < p->cb ? p->shape[n - 1] - c0 : p->cb;
}

void cpu_plan_seek(const cpu_plan *p, cpu_plan_iter *it, int64_t task)
{
    for (int j = 0; j < p->k; j++) it->off[j] = 0;
    for (int d = p->nd - 1; d >= 0; d--) {
        it->idx[d] = task % p->tshape[d];
        task /= p->tshape[d];
        for (int j = 0; j < p->k; j++) it->off[j] += it->idx[d] * p->tstride[j][d];
    }
    plan_extent(p, it);
}

void cpu_plan_next(const cpu_plan *p, cpu_plan_iter *it)
{
    for (int d = p->nd - 1; d >= 0; d--) {
        if (++it->idx[d] < p->tshape[d]) {
            for (int j = 0; j < p->k; j++) it->off[j] += p->tstride[j][d];
            break;
        }
        for (int j = 0; j < p->k; j++) it->off[j] -= (p->tshape[d] - 1) * p->tstride[j][d];
        it->idx[d] = 0;
    }
    plan_extent(p, it);
}

/* ---- element-wise engine ---- */

void cpu_ew_operand_init(cpu_ew_operand *op, const dio_tensor *t, int nd)
{
    int lead = nd - t->ndim;
    op->data = cpu_tensor_data(t);
    op->dtype = t->dtype;
    for (int d = 0; d < nd; d++) {
        int td = d - lead;
        op->stride[d] = (td < 0 || t->shape[td] == 1) ? 0 : t->stride[td];
    }
}

static void ew_block(const cpu_plan *p, const cpu_plan_iter *it, int n_in, const cpu_ew_operand *in,
                     const cpu_ew_operand *out, cpu_ew_fn fn, const void *ctx, float (*tmp)[CPU_CHUNK])
{
    const float *ptr[CPU_MAX_OPERANDS];
    int nd = p->nd;
    int64_t oes = (int64_t)dio_dtype_size(out->dtype);
    int64_t ors = p->stride[0][nd - 2], ocs = p->stride[0][nd - 1];
    for (int64_t r = 0; r < it->rows; r++) {
        for (int64_t c0 = 0; c0 < it->cols; c0 += CPU_CHUNK) {
            int64_t n = it->cols - c0 < CPU_CHUNK ? it->cols - c0 : CPU_CHUNK;
            char *op = out->data + (it->off[0] + r * ors + c0 * ocs) * oes;
            float *o;
            for (int i = 0; i < n_in; i++) {
                int64_t rs = p->stride[i + 1][nd - 2], cs = p->stride[i + 1][nd - 1];
                const char *ip =
                    in[i].data + (it->off[i + 1] + r * rs + c0 * cs) * (int64_t)dio_dtype_size(in[i].dtype);
                ptr[i] = cpu_view_run(tmp[i], ip, in[i].dtype, cs, n);
            }
            o = (out->dtype == DIO_DTYPE_F32 && (ocs == 1 || n == 1)) ? (float *)(void *)op : tmp[n_in];
            fn(ctx, n, ptr, o);
            if (o == tmp[n_in]) cpu_store_run(op, out->dtype, ocs, o, n);
        }
    }
}

void cpu_ew_run(const cpu_backend *be, int nd, const int64_t *shape, int n_in, const cpu_ew_operand *in,
                const cpu_ew_operand *out, cpu_ew_fn fn, const void *ctx)
{
    cpu_plan plan;
    int64_t strides[CPU_MAX_OPERANDS][CPU_MAX_ITER_DIMS];
    int nt;
    for (int d = 0; d < nd; d++) {
        strides[0][d] = out->stride[d];
        for (int i = 0; i < n_in; i++) strides[i + 1][d] = in[i].stride[d];
    }
    cpu_plan_make(&plan, nd, shape, n_in + 1, strides, 16384, -1);
    if (plan.n_tasks == 0) return;
    nt = cpu_threads_for(be, plan.numel, CPU_GRAIN);
    if (nt > plan.n_tasks) nt = (int)plan.n_tasks;
#pragma omp parallel num_threads(nt) if (nt > 1)
    {
        float tmp[CPU_MAX_OPERANDS][CPU_CHUNK] __attribute__((aligned(64)));
        cpu_plan_iter it;
        int64_t lo, hi;
        cpu_split_range(plan.n_tasks, omp_get_num_threads(), omp_get_thread_num(), &lo, &hi);
        for (int64_t t = lo; t < hi; t++) {
            if (t == lo)
                cpu_plan_seek(&plan, &it, lo);
            else
                cpu_plan_next(&plan, &it);
            ew_block(&plan, &it, n_in, in, out, fn, ctx, tmp);
        }
    }
}

/* ---- raw copy ---- */

#define CPU_RAW_LOOP(T)                                                                                      \
    do {                                                                                                     \
        T *D = (T *)(void *)d;                                                                               \
        const T *S = (const T *)(const void *)s;                                                             \
        for (int64_t r = 0; r < rows; r++)                                                                   \
            for (int64_t c = 0; c < cols; c++) D[r * drs + c * dcs] = S[r * srs + c * scs];                  \
    } while (0)

/* A transpose tile (rows, cols <= CPU_TILE): the source is contiguous down the rows, the destination
 * along the cols. Going through a local tile reads and writes only whole contiguous runs; the direct
 * double loop would touch 64 source lines per destination run, and with power-of-two row pitches
 * (2048 channels) all of them fall in one cache set and evict each other. */
#define CPU_TILE_LOOP(T)                                                                                     \
    do {                                                                                                     \
        T *D = (T *)(void *)d, tile[CPU_TILE * CPU_TILE];                                                    \
        const T *S = (const T *)(const void *)s;                                                             \
        for (int64_t c = 0; c < cols; c++)                                                                   \
            for (int64_t r = 0; r < rows; r++) tile[c * CPU_TILE + r] = S[r * srs + c * scs];                \
        for (int64_t r = 0; r < rows; r++)                                                                   \
            for (int64_t c = 0; c < cols; c++) D[r * drs + c] = tile[c * CPU_TILE + r];                      \
    } while (0)

static void raw_block(char *d, int64_t drs, int64_t dcs, const char *s, int64_t srs, int64_t scs,
                      int64_t rows, int64_t cols, size_t es)
{
    if (dcs == 1 && scs == 1) {
        for (int64_t r = 0; r < rows; r++)
            memmove(d + r * drs * (int64_t)es, s + r * srs * (int64_t)es, (size_t)cols * es);
        return;
    }
    if (dcs == 1 && (srs == 1 || srs == -1) && rows <= CPU_TILE && cols <= CPU_TILE) {
        switch (es) {
        case 1: CPU_TILE_LOOP(uint8_t); return;
        case 2: CPU_TILE_LOOP(uint16_t); return;
        case 4: CPU_TILE_LOOP(uint32_t); return;
        case 8: CPU_TILE_LOOP(uint64_t); return;
        default: break;
        }
    }
    switch (es) {
    case 1: CPU_RAW_LOOP(uint8_t); break;
    case 2: CPU_RAW_LOOP(uint16_t); break;
    case 4: CPU_RAW_LOOP(uint32_t); break;
    case 8: CPU_RAW_LOOP(uint64_t); break;
    default:
        for (int64_t r = 0; r < rows; r++)
            for (int64_t c = 0; c < cols; c++)
                memcpy(d + (r * drs + c * dcs) * (int64_t)es, s + (r * srs + c * scs) * (int64_t)es, es);
        break;
    }
}

void cpu_raw_copy(const cpu_backend *be, int nd, const int64_t *shape, void *dst, const int64_t *dstride,
                  const void *src, const int64_t *sstride, size_t esize)
{
    cpu_plan plan;
    int64_t strides[2][CPU_MAX_ITER_DIMS];
    int nt;
    for (int d = 0; d < nd; d++) {
        strides[0][d] = dstride[d];
        strides[1][d] = sstride[d];
    }
    cpu_plan_make(&plan, nd, shape, 2, strides, 32768, 1);
    if (plan.n_tasks == 0) return;
    nt = cpu_threads_for(be, plan.numel, CPU_GRAIN);
    if (nt > plan.n_tasks) nt = (int)plan.n_tasks;
#pragma omp parallel num_threads(nt) if (nt > 1)
    {
        cpu_plan_iter it;
        int64_t lo, hi;
        int n = plan.nd;
        int64_t es = (int64_t)esize;
        cpu_split_range(plan.n_tasks, omp_get_num_threads(), omp_get_thread_num(), &lo, &hi);
        for (int64_t t = lo; t < hi; t++) {
            if (t == lo)
                cpu_plan_seek(&plan, &it, lo);
            else
                cpu_plan_next(&plan, &it);
            raw_block((char *)dst + it.off[0] * es, plan.stride[0][n - 2], plan.stride[0][n - 1],
                      (const char *)src + it.off[1] * es, plan.stride[1][n - 2], plan.stride[1][n - 1],
                      it.rows, it.cols, esize);
        }
    }
}

/* ---- call checks ---- */

dio_status cpu_check_float_act(const cpu_backend *be, const char *op, const char *what, const dio_tensor *t)
{
    if (!cpu_is_float_activation(t->dtype))
        return cpu_error(be, DIO_ERR_NOT_SUPPORTED,
                         "%s: %s has dtype %s; the cpu backend takes f32, f16 or bf16 here", op, what,
                         dio_dtype_name(t->dtype));
    return DIO_OK;
}

dio_status cpu_check_dtype_as(const cpu_backend *be, const char *op, const char *what, const dio_tensor *t,
                              const char *ref_what, const dio_tensor *ref)
{
    if (t->dtype != ref->dtype)
        return cpu_error(be, DIO_ERR_INVALID_ARGUMENT, "%s: %s has dtype %s but %s has %s", op, what,
                         dio_dtype_name(t->dtype), ref_what, dio_dtype_name(ref->dtype));
    return DIO_OK;
}

dio_status cpu_check_shape_as(const cpu_backend *be, const char *op, const char *what, const dio_tensor *t,
                              const char *ref_what, const dio_tensor *ref)
{
    char a[160], b[160];
    if (!cpu_same_shape(t, ref))
        return cpu_error(be, DIO_ERR_INVALID_ARGUMENT, "%s: %s has shape %s but %s has %s", op, what,
                         cpu_shape_str(t, a, sizeof(a)), ref_what, cpu_shape_str(ref, b, sizeof(b)));
    return DIO_OK;
}

dio_status cpu_check_ndim(const cpu_backend *be, const char *op, const char *what, const dio_tensor *t,
                          int ndim)
{
    char a[160];
    if (t->ndim != ndim)
        return cpu_error(be, DIO_ERR_INVALID_ARGUMENT, "%s: %s has shape %s; expected %d dims", op, what,
                         cpu_shape_str(t, a, sizeof(a)), ndim);
    return DIO_OK;
}

dio_status cpu_check_vector(const cpu_backend *be, const char *op, const char *what, const dio_tensor *t,
                            int64_t n)
{
    char a[160];
    if (t->ndim != 1 || t->shape[0] != n)
        return cpu_error(be, DIO_ERR_INVALID_ARGUMENT, "%s: %s has shape %s; expected [%lld]", op, what,
                         cpu_shape_str(t, a, sizeof(a)), (long long)n);
    return DIO_OK;
}

dio_status cpu_check_numel(const cpu_backend *be, const char *op, const char *what, const dio_tensor *t)
{
    int64_t n = 1;
    char a[160];
    for (int i = 0; i < t->ndim; i++)
        if (__builtin_mul_overflow(n, t->shape[i], &n) || n > ((int64_t)1 << 62))
            return cpu_error(be, DIO_ERR_INVALID_ARGUMENT, "%s: %s of shape %s has too many elements", op,
                             what, cpu_shape_str(t, a, sizeof(a)));
    return DIO_OK;
}
