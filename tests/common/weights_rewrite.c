/* Test helper: the weight-file rewriter shared by the component tests (see weights_rewrite.h). */
#include "weights_rewrite.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "diorama/diorama.h"

uint16_t dio_test_f32_to_bf16(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    u += 0x7fffu + ((u >> 16) & 1u);
    return (uint16_t)(u >> 16);
}

/* Not _Float16, which clang lacks on x86 without AVX512-FP16. */
uint16_t dio_test_f32_to_f16(float f)
{
    uint32_t u, a;
    uint16_t sign;
    memcpy(&u, &f, 4);
    sign = (uint16_t)((u >> 16) & 0x8000u);
    a = u & 0x7fffffffu;
    if (a > 0x7f800000u) return (uint16_t)(sign | 0x7e00u);  /* NaN */
    if (a >= 0x477ff000u) return (uint16_t)(sign | 0x7c00u); /* rounds past 65504: inf */
    if (a < 0x38800000u) {                                   /* subnormal: units of 2^-24 */
        float v;
        memcpy(&v, &a, 4);
        return (uint16_t)(sign | (uint16_t)nearbyintf(v * 16777216.0f));
    }
    a += 0xfffu + ((a >> 13) & 1u);
    return (uint16_t)(sign | (((a >> 23) - 112u) << 10) | ((a >> 13) & 0x3ffu));
}

int dio_test_rewrite_weights(const char *src_path, const char *dst, dio_test_rename_fn rename, int32_t dtype,
                             const char *drop, const char *reshape, const char *retype)
{
    dio_weights *src = NULL;
    dio_named_tensor *t = NULL;
    char(*names)[256] = NULL;
    void **bufs = NULL;
    int64_t n = 0, k = 0;
    int rc = 1;
    if (dio_weights_open(src_path, &src) != DIO_OK) goto fail;
    n = dio_weights_count(src);
    t = calloc((size_t)n, sizeof(*t));
    names = calloc((size_t)n, sizeof(*names));
    bufs = calloc((size_t)n, sizeof(*bufs));
    if (!t || !names || !bufs) goto fail;
    for (int64_t i = 0; i < n; i++) {
        const char *nm;
        dio_weight_info w;
        int64_t numel = 1;
        int32_t dt = dtype;
        w.struct_size = sizeof(w);
        if (dio_weights_at(src, i, &nm, &w) != DIO_OK || w.dtype != DIO_DTYPE_F32) goto fail;
        if (drop && !strcmp(nm, drop)) continue;
        for (int d = 0; d < w.ndim; d++) numel *= w.shape[d];
        if (retype && !strcmp(nm, retype)) dt = DIO_DTYPE_I32;
        if (!(bufs[k] = malloc((size_t)numel * 4))) goto fail;
        for (int64_t j = 0; j < numel; j++) {
            float v = ((const float *)w.data)[j];
            if (dt == DIO_DTYPE_BF16)
                ((uint16_t *)bufs[k])[j] = dio_test_f32_to_bf16(v);
            else if (dt == DIO_DTYPE_F16)
                ((uint16_t *)bufs[k])[j] = dio_test_f32_to_f16(v);
            else if (dt == DIO_TEST_BF16_IN_F32) {
                uint32_t u = (uint32_t)dio_test_f32_to_bf16(v) << 16;
                memcpy((float *)bufs[k] + j, &u, 4);
            } else if (dt == DIO_DTYPE_I32)
                ((int32_t *)bufs[k])[j] = (int32_t)v;
            else
                ((float *)bufs[k])[j] = v;
        }
        if (rename)
            rename(nm, names[k], sizeof(names[k]));
        else
            snprintf(names[k], sizeof(names[k]), "%s", nm);
        t[k].name = names[k];
        t[k].dtype = dt < 0 ? DIO_DTYPE_F32 : dt;
        t[k].ndim = w.ndim;
        memcpy(t[k].shape, w.shape, sizeof(t[k].shape));
        if (reshape && !strcmp(nm, reshape)) { /* same bytes, another shape */
            t[k].shape[0] = w.shape[1];
            t[k].shape[1] = w.shape[0];
        }
        t[k].data = bufs[k];
        k++;
    }
    rc = dio_safetensors_write(dst, t, (size_t)k, NULL, 0) == DIO_OK ? 0 : 1;
fail:
    for (int64_t i = 0; bufs && i < n; i++) free(bufs[i]);
    free(bufs);
    free(names);
    free(t);
    dio_weights_close(src);
    if (rc) printf("  cannot write %s: %s\n", dst, dio_last_error());
    return rc;
}
