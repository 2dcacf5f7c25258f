/* Test helper: rewrites a fixture's f32 weights under other names, another dtype, or with one tensor
 * broken, so component tests can check every key layout, weight dtype and bad-weights message from
 * one committed file. */
#ifndef DIO_TEST_WEIGHTS_REWRITE_H
#define DIO_TEST_WEIGHTS_REWRITE_H

#include <stddef.h>
#include <stdint.h>

/* dtype value: f32 storage holding bf16-rounded values (isolates the weight rounding from the path). */
#define DIO_TEST_BF16_IN_F32 (-1)

typedef void (*dio_test_rename_fn)(const char *name, char *out, size_t n);

/* Reads the f32 safetensors `src`, writes `dst` with every name passed through `rename` (NULL keeps
 * it), values stored as `dtype` (f32, f16, bf16 or DIO_TEST_BF16_IN_F32); `drop` / `reshape` /
 * `retype` name one tensor to leave out / give its first two dims swapped / store as i32.
 * 0 on success; on failure prints why and returns 1. */
int dio_test_rewrite_weights(const char *src, const char *dst, dio_test_rename_fn rename, int32_t dtype,
                             const char *drop, const char *reshape, const char *retype);

/* Round to nearest even, in plain C. */
uint16_t dio_test_f32_to_bf16(float f);
uint16_t dio_test_f32_to_f16(float f);

#endif
