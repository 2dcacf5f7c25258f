/* conformance — the float64 reference of every op in abi/diorama/ops.h.
 *
 * Written from the text of ops.h alone, never from a backend: simple loops, double everywhere, no
 * blocking, no tricks, so that a reader can check each function against its paragraph in ops.h. Every
 * tensor is a ref_tensor: a pointer to element 0 of a double array plus shape and element strides
 * (negative strides allowed), so an input can be handed over in exactly the layout the backend sees.
 * Outputs are written through their own ref_tensor (the harness uses a dense array). Shapes are assumed
 * valid: the harness only builds valid calls; the one data-dependent error of the contract (GATHER's
 * out-of-range id) is reported through the return value.
 *
 * The dtype codecs (round to nearest even, f8 saturating) also live here, because COPY and GATHER's
 * dtype conversion is part of the op semantics and the harness must round its inputs with exactly the
 * same rules. They are written from the IEEE/OCP format definitions, not taken from any backend. */
#ifndef DIO_TEST_REF_OPS_H
#define DIO_TEST_REF_OPS_H

#include <stdint.h>

#define REF_MAX_DIMS 6

typedef struct ref_tensor {
    double *data; /* element 0 */
    int ndim;
    int64_t shape[REF_MAX_DIMS];
    int64_t stride[REF_MAX_DIMS]; /* in elements */
} ref_tensor;

/* ---- dtype codecs (dtype = dio_dtype values) ---- */

/* Encodes v into one element of `dtype` at dst: f32 by the C conversion (RNE), f16/bf16 RNE with
 * overflow to infinity, f8e4m3/f8e5m2 RNE saturating at ±448 / ±57344 (infinity too), NaN to a NaN;
 * integers by truncation toward zero. */
void ref_encode(double v, int32_t dtype, void *dst);
double ref_decode(const void *src, int32_t dtype);
/* ref_decode(ref_encode(v)): the value a tensor of that dtype holds. */
double ref_round(double v, int32_t dtype);
/* Largest finite value of a float dtype. */
double ref_dtype_max(int32_t dtype);

/* ---- helpers ---- */

int64_t ref_numel(const ref_tensor *t);
/* Offset in elements of the multi-index idx (ndim entries). */
int64_t ref_offset(const ref_tensor *t, const int64_t *idx);
/* Advances a row-major multi-index; 0 when it wrapped around (done). */
int ref_next_index(int64_t *idx, const int64_t *shape, int ndim);

/* The output extent of a convolution along one dim, torch semantics: (n_padded - dil·(k-1) - 1)/s + 1,
 * where n_padded already includes pads (and, for time, the cache frames). */
int64_t ref_conv_out_len(int64_t n_padded, int64_t k, int64_t stride, int64_t dilation);

/* ---- ops (params are the effective values, struct defaults already applied by the caller) ---- */

/* C = alpha·op(A)·op(B) + bias + beta·C. C holds the old contents on entry (read only if beta != 0). */
void ref_matmul(const ref_tensor *a, const ref_tensor *b, const ref_tensor *bias, ref_tensor *c, int trans_a,
                int trans_b, double alpha, double beta);
/* scale == 0 means 1/sqrt(D). mask may be NULL, [Lq, Lk] or [B, 1|Hq, Lq, Lk]. */
void ref_attention(const ref_tensor *q, const ref_tensor *k, const ref_tensor *v, const ref_tensor *mask,
                   ref_tensor *o, double scale, int causal);
void ref_layernorm(const ref_tensor *x, const ref_tensor *w, const ref_tensor *b, ref_tensor *y, double eps);
void ref_rmsnorm(const ref_tensor *x, const ref_tensor *w, ref_tensor *y, double eps);
void ref_adaln_modulate(const ref_tensor *x, const ref_tensor *shift, const ref_tensor *scale, ref_tensor *y,
                        double eps, int rms);
void ref_gated_residual(const ref_tensor *x, const ref_tensor *r, const ref_tensor *gate, ref_tensor *y);
/* mode: 0 rotate-half, 1 interleaved (DIO_ROPE_*). */
void ref_rope(const ref_tensor *x, const ref_tensor *cos_t, const ref_tensor *sin_t, ref_tensor *y, int mode);
void ref_gelu(const ref_tensor *x, ref_tensor *y, int approximate_tanh);
void ref_silu(const ref_tensor *x, ref_tensor *y);
void ref_swiglu(const ref_tensor *gate, const ref_tensor *up, ref_tensor *y);
/* n_spatial 3: x [B,Cin,T,H,W], w [Cout,Cin/g,kt,kh,kw], cache opt [B,Cin,c,H,W];
 * n_spatial 2: x [B,Cin,H,W], w [Cout,Cin/g,kh,kw], entries 0 (H) and 1 (W) of the arrays, no cache. */
void ref_conv(int n_spatial, const ref_tensor *x, const ref_tensor *w, const ref_tensor *bias,
              const ref_tensor *cache, ref_tensor *y, const int stride[3], const int pad_front[3],
              const int pad_back[3], const int dilation[3], int groups);
void ref_channel_rmsnorm(const ref_tensor *x, const ref_tensor *gamma, const ref_tensor *bias, ref_tensor *y,
                         double eps);
void ref_upsample_nearest(const ref_tensor *x, ref_tensor *y);
void ref_softmax(const ref_tensor *x, ref_tensor *y, double scale);
void ref_add(const ref_tensor *a, const ref_tensor *b, ref_tensor *y);
void ref_mul(const ref_tensor *a, const ref_tensor *b, ref_tensor *y);
void ref_axpby(const ref_tensor *x, const ref_tensor *z, ref_tensor *y, double alpha, double beta);
void ref_clamp(const ref_tensor *x, ref_tensor *y, double lo, double hi);
/* ids hold integer values. Returns -1, or the first position n whose id is outside [0, V). */
int64_t ref_gather(const ref_tensor *table, const ref_tensor *ids, ref_tensor *y);
/* y = x rounded to y_dtype (RNE, f8 saturating). */
void ref_copy(const ref_tensor *x, ref_tensor *y, int32_t y_dtype);
/* axis may be negative (from the end). */
void ref_concat(const ref_tensor *const *xs, int n, int axis, ref_tensor *y);
void ref_slice(const ref_tensor *x, const int64_t *start, const int64_t *step, ref_tensor *y);
void ref_permute(const ref_tensor *x, const int32_t *perm, ref_tensor *y);
/* order: 0 C_T_H_W, 1 H_W_T_C (DIO_PATCH_ORDER_*). */
void ref_patchify(const ref_tensor *x, ref_tensor *y, const int patch[3], int order);
void ref_unpatchify(const ref_tensor *x, ref_tensor *y, const int patch[3], int order);

#endif
