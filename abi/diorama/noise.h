/* diorama — the host's noise generators: one seed gives the same noise on every backend.
 *
 * Two generators:
 *  - "numpy" (the default): numpy's legacy RandomState, MT19937 with the polar Box-Muller Gaussian
 *    and its one-value cache, reproduced bit for bit, so a seed gives the reference's own initial
 *    latents (cosmos-reference.md §3.1, arch_invariant_rand; tests/fixtures/noise/README.md). Seeds
 *    0 ... 2^32 - 1.
 *  - "philox": a counter-based generator (Philox4x32-10, Box-Muller on pairs): value k of a stream
 *    depends only on (seed, k), so a tensor can be filled in any order or in parallel, and skipping
 *    ahead is free. Any 64-bit seed.
 * Both produce float64 values; the float32 variants round each to nearest even, as numpy's astype.
 *
 * Ownership: dio_noise_create makes a generator freed by dio_noise_destroy (NULL ok).
 * Thread safety: one generator per thread; generators are independent. */
#ifndef DIORAMA_NOISE_H
#define DIORAMA_NOISE_H

#include <stddef.h>
#include <stdint.h>

#include "api.h"
#include "status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum dio_noise_kind {
    DIO_NOISE_NUMPY = 0,  /* numpy.random.RandomState(seed).standard_normal */
    DIO_NOISE_PHILOX = 1, /* counter-based */
    DIO_NOISE_KIND_FORCE_32BIT = 0x7fffffff
} dio_noise_kind;

typedef struct dio_noise dio_noise;

/* "numpy" or "philox" → the kind; INVALID_ARGUMENT naming the known ones otherwise. */
DIO_API dio_status dio_noise_kind_from_name(const char *name, dio_noise_kind *out);
/* INVALID_ARGUMENT when the seed is out of the generator's range (numpy: above 2^32 - 1). */
DIO_API dio_status dio_noise_create(dio_noise_kind kind, uint64_t seed, dio_noise **out);
DIO_API void dio_noise_destroy(dio_noise *noise);
/* The next `count` standard normal values, in order (a C-order array when filling a tensor). */
DIO_API dio_status dio_noise_normal_f64(dio_noise *noise, double *out, size_t count);
DIO_API dio_status dio_noise_normal_f32(dio_noise *noise, float *out, size_t count);
/* The next `count` uniform doubles in [0, 1) (numpy: random_sample, 53 bits). */
DIO_API dio_status dio_noise_uniform_f64(dio_noise *noise, double *out, size_t count);
/* The next raw 32-bit words (numpy: tempered MT19937 output; philox: the counter stream). For tests. */
DIO_API dio_status dio_noise_u32(dio_noise *noise, uint32_t *out, size_t count);

#ifdef __cplusplus
}
#endif
#endif
