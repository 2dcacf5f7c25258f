/* CPU backend — call validation and dtype conversion shared by every op file.
 *
 * Validation is strict because a view that points outside its buffer is the one way a bad call could
 * corrupt memory: cpu_check_tensor walks the extreme offsets a view can reach (with negative strides
 * allowed) and refuses any byte outside the buffer. Conversions are bit-exact round-to-nearest-even. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "cpu_internal.h"

int cpu_is_float_activation(int32_t dtype)
{
    return dtype == DIO_DTYPE_F32 || dtype == DIO_DTYPE_F16 || dtype == DIO_DTYPE_BF16;
}

const char *cpu_shape_str(const dio_tensor *t, char *buf, size_t n)
{
    return dio_shape_format(t ? t->ndim : 0, t ? t->shape : NULL, buf, n);
}

dio_status cpu_check_tensor(const cpu_backend *be, const dio_tensor *t, const char *what, int writable)
{
    size_t esize;
    __int128 lo = 0, hi = 0;
    if (!t) return cpu_error(be, DIO_ERR_INVALID_ARGUMENT, "%s is missing", what);
    if (t->struct_size < sizeof(dio_tensor))
        return cpu_error(be, DIO_ERR_INVALID_ARGUMENT, "%s: tensor struct_size %u is too small", what,
                         t->struct_size);
    esize = dio_dtype_size(t->dtype);
    if (!esize) return cpu_error(be, DIO_ERR_NOT_SUPPORTED, "%s: unknown dtype %d", what, t->dtype);
    if (t->ndim < 0 || t->ndim > DIO_MAX_DIMS)
        return cpu_error(be, DIO_ERR_INVALID_ARGUMENT, "%s: ndim %d outside 0..%d", what, t->ndim,
                         DIO_MAX_DIMS);
    if (!t->buffer) return cpu_error(be, DIO_ERR_INVALID_ARGUMENT, "%s: no buffer", what);
    /* Kernels address elements through typed pointers, so element 0 must be aligned to its size
     * (a weight at an odd offset of a safetensors file is copied by its component, not read here). */
    if (((uintptr_t)t->buffer->data + t->offset) % esize)
        return cpu_error(be, DIO_ERR_INVALID_ARGUMENT, "%s: %s data at offset %llu is not %zu-byte aligned",
                         what, dio_dtype_name(t->dtype), (unsigned long long)t->offset, esize);
    if (writable && (t->buffer->flags & DIO_HOST_BUFFER_READ_ONLY))
        return cpu_error(be, DIO_ERR_INVALID_ARGUMENT, "%s: output in a read-only buffer", what);
    for (int i = 0; i < t->ndim; i++) {
        if (t->shape[i] < 0 || t->shape[i] > ((int64_t)1 << 48))
            return cpu_error(be, DIO_ERR_INVALID_ARGUMENT, "%s: dim %d has size %lld", what, i,
                             (long long)t->shape[i]);
        if (t->shape[i] == 0) return DIO_OK; /* empty: addresses nothing */
        if (t->stride[i] > 0)
            hi += (__int128)(t->shape[i] - 1) * t->stride[i];
        else
            lo += (__int128)(t->shape[i] - 1) * t->stride[i];
    }
    lo = lo * (__int128)esize + (__int128)t->offset;
    hi = (hi + 1) * (__int128)esize + (__int128)t->offset;
    if (lo < 0 || hi > (__int128)t->buffer->size)
        return cpu_error(be, DIO_ERR_INVALID_ARGUMENT,
                         "%s: the view (offset %llu, %s) reaches outside its buffer of %llu bytes", what,
                         (unsigned long long)t->offset, dio_dtype_name(t->dtype),
                         (unsigned long long)t->buffer->size);
    return DIO_OK;
}

dio_status cpu_check_call_arity(const cpu_backend *be, const dio_op_call *call, int min_inputs,
                                int max_inputs, int n_required_inputs, int n_outputs)
{
    const char *op = dio_op_name(call->op);
    char what[96];
    dio_status st;
    if (call->struct_size < sizeof(dio_op_call))
        return cpu_error(be, DIO_ERR_INVALID_ARGUMENT, "%s: dio_op_call struct_size %u is too small", op,
                         call->struct_size);
    if (call->n_inputs < min_inputs || call->n_inputs > max_inputs)
        return cpu_error(be, DIO_ERR_INVALID_ARGUMENT, "%s: %d inputs given, expected %d..%d", op,
                         call->n_inputs, min_inputs, max_inputs);
    if (call->n_outputs != n_outputs)
        return cpu_error(be, DIO_ERR_INVALID_ARGUMENT, "%s: %d outputs given, expected %d", op,
                         call->n_outputs, n_outputs);
    if ((call->n_inputs && !call->inputs) || !call->outputs)
        return cpu_error(be, DIO_ERR_INVALID_ARGUMENT, "%s: NULL tensor array", op);
    for (int i = 0; i < call->n_inputs; i++) {
        if (!call->inputs[i]) {
            if (i < n_required_inputs)
                return cpu_error(be, DIO_ERR_INVALID_ARGUMENT, "%s: input %d is required", op, i);
            continue;
        }
        snprintf(what, sizeof(what), "%s input %d", op, i);
        if ((st = cpu_check_tensor(be, call->inputs[i], what, 0)) != DIO_OK) return st;
    }
    for (int i = 0; i < n_outputs; i++) {
        snprintf(what, sizeof(what), "%s output %d", op, i);
        if ((st = cpu_check_tensor(be, call->outputs[i], what, 1)) != DIO_OK) return st;
    }
    return DIO_OK;
}

int cpu_same_shape(const dio_tensor *a, const dio_tensor *b)
{
    if (a->ndim != b->ndim) return 0;
    for (int i = 0; i < a->ndim; i++)
        if (a->shape[i] != b->shape[i]) return 0;
    return 1;
}

/* ---- conversions ---- */

static inline uint32_t f32_bits(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

static inline float bits_f32(uint32_t u)
{
    float f;
    memcpy(&f, &u, 4);
    return f;
}

float cpu_bf16_to_f32(uint16_t h)
{
    return bits_f32((uint32_t)h << 16);
}

uint16_t cpu_f32_to_bf16(float f)
{
    uint32_t u = f32_bits(f);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40); /* quiet NaN */
    u += 0x7fffu + ((u >> 16) & 1u);
    return (uint16_t)(u >> 16);
}

float cpu_f16_to_f32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t exp = (h >> 10) & 0x1fu;
    uint32_t man = h & 0x3ffu;
    if (exp == 0) {
        /* zero or subnormal: man * 2^-24 */
        float v = (float)man * 5.9604644775390625e-8f;
        return sign ? -v : v;
    }
    if (exp == 31) return bits_f32(sign | 0x7f800000u | (man << 13));
    return bits_f32(sign | ((exp + 112u) << 23) | (man << 13));
}

uint16_t cpu_f32_to_f16(float f)
{
    uint32_t u = f32_bits(f);
    uint16_t sign = (uint16_t)((u >> 16) & 0x8000u);
    uint32_t a = u & 0x7fffffffu;
    if (a > 0x7f800000u) return (uint16_t)(sign | 0x7e00u);  /* NaN */
    if (a >= 0x477ff000u) return (uint16_t)(sign | 0x7c00u); /* rounds to >= 65536: inf */
    if (a < 0x38800000u) {                                   /* below 2^-14: subnormal or zero */
        float v = bits_f32(a) * 16777216.0f;                 /* scale by 2^24: value in units of 2^-24 */
        uint32_t m = (uint32_t)nearbyintf(v);                /* current rounding mode: nearest even */
        return (uint16_t)(sign | m);                         /* m == 1024 gives the smallest normal */
    }
    {
        uint32_t r = a + 0xfffu + ((a >> 13) & 1u); /* RNE on the 13 dropped bits */
        return (uint16_t)(sign | (((r >> 23) - 112u) << 10 | ((r >> 13) & 0x3ffu)));
    }
}

/* f8 decoding is table-free: exponent bias 7 (e4m3) / 15 (e5m2). */
float cpu_f8e4m3_to_f32(uint8_t v)
{
    float s = (v & 0x80) ? -1.0f : 1.0f;
    int e = (v >> 3) & 0xf, m = v & 7;
    if (e == 15 && m == 7) return NAN;
    if (e == 0) return s * ldexpf((float)m, -9);
    return s * ldexpf(1.0f + (float)m / 8.0f, e - 7);
}

float cpu_f8e5m2_to_f32(uint8_t v)
{
    float s = (v & 0x80) ? -1.0f : 1.0f;
    int e = (v >> 2) & 0x1f, m = v & 3;
    if (e == 31) return m ? NAN : s * INFINITY;
    if (e == 0) return s * ldexpf((float)m, -16);
    return s * ldexpf(1.0f + (float)m / 4.0f, e - 15);
}

/* Generic RNE encoder for small floats: mbits mantissa bits, bias, largest finite magnitude. */
static uint8_t cpu_encode_f8(float f, int mbits, int bias, float maxv, uint8_t nan_code)
{
    uint8_t sign = (f32_bits(f) >> 24) & 0x80;
    float a = fabsf(f);
    int e;
    float q;
    if (isnan(f)) return (uint8_t)(sign | nan_code);
    if (a >= maxv) a = maxv; /* saturate (also infinities) */
    if (a == 0.0f) return sign;
    frexpf(a, &e); /* a = frac * 2^e, frac in [0.5, 1) → unbiased exponent e-1 */
    e -= 1;
    if (e < 1 - bias) e = 1 - bias;       /* subnormal range shares the minimum exponent */
    q = nearbyintf(ldexpf(a, mbits - e)); /* mantissa incl. implicit bit, in units of 2^(e-mbits) */
    if (q >= (float)(2 << mbits)) {       /* rounding carried into the next binade */
        q /= 2.0f;
        e += 1;
    }
    if (ldexpf(q, e - mbits) > maxv) q = ldexpf(maxv, mbits - e);
    {
        int iq = (int)q;
        int biased = (iq >= (1 << mbits)) ? e + bias : 0;
        int man = iq & ((1 << mbits) - 1);
        return (uint8_t)(sign | (uint8_t)(biased << mbits) | (uint8_t)man);
    }
}

uint8_t cpu_f32_to_f8e4m3(float f)
{
    return cpu_encode_f8(f, 3, 7, 448.0f, 0x7f);
}

uint8_t cpu_f32_to_f8e5m2(float f)
{
    return cpu_encode_f8(f, 2, 15, 57344.0f, 0x7f);
}

float cpu_load_f32(const void *base, int32_t dtype, int64_t i)
{
    switch (dtype) {
    case DIO_DTYPE_F32: return ((const float *)base)[i];
    case DIO_DTYPE_F16: return cpu_f16_to_f32(((const uint16_t *)base)[i]);
    case DIO_DTYPE_BF16: return cpu_bf16_to_f32(((const uint16_t *)base)[i]);
    case DIO_DTYPE_F8E4M3: return cpu_f8e4m3_to_f32(((const uint8_t *)base)[i]);
    case DIO_DTYPE_F8E5M2: return cpu_f8e5m2_to_f32(((const uint8_t *)base)[i]);
    case DIO_DTYPE_I32: return (float)((const int32_t *)base)[i];
    case DIO_DTYPE_I64: return (float)((const int64_t *)base)[i];
    case DIO_DTYPE_U8: return (float)((const uint8_t *)base)[i];
    default: return NAN;
    }
}

void cpu_store_f32(void *base, int32_t dtype, int64_t i, float v)
{
    switch (dtype) {
    case DIO_DTYPE_F32: ((float *)base)[i] = v; break;
    case DIO_DTYPE_F16: ((uint16_t *)base)[i] = cpu_f32_to_f16(v); break;
    case DIO_DTYPE_BF16: ((uint16_t *)base)[i] = cpu_f32_to_bf16(v); break;
    case DIO_DTYPE_F8E4M3: ((uint8_t *)base)[i] = cpu_f32_to_f8e4m3(v); break;
    case DIO_DTYPE_F8E5M2: ((uint8_t *)base)[i] = cpu_f32_to_f8e5m2(v); break;
    case DIO_DTYPE_I32: ((int32_t *)base)[i] = (int32_t)v; break;
    case DIO_DTYPE_I64: ((int64_t *)base)[i] = (int64_t)v; break;
    case DIO_DTYPE_U8: ((uint8_t *)base)[i] = (uint8_t)v; break;
    default: break;
    }
}

void cpu_convert_to_f32(float *dst, const void *src, int32_t src_dtype, int64_t n)
{
    if (src_dtype == DIO_DTYPE_F32) {
        memcpy(dst, src, (size_t)n * sizeof(float));
        return;
    }
    if (src_dtype == DIO_DTYPE_BF16) {
        const uint16_t *s = src;
        for (int64_t i = 0; i < n; i++) dst[i] = bits_f32((uint32_t)s[i] << 16);
        return;
    }
    for (int64_t i = 0; i < n; i++) dst[i] = cpu_load_f32(src, src_dtype, i);
}

void cpu_convert_from_f32(void *dst, int32_t dst_dtype, const float *src, int64_t n)
{
    if (dst_dtype == DIO_DTYPE_F32) {
        memcpy(dst, src, (size_t)n * sizeof(float));
        return;
    }
    for (int64_t i = 0; i < n; i++) cpu_store_f32(dst, dst_dtype, i, src[i]);
}
