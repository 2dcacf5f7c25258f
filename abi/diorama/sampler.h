/* diorama ABI — samplers (Euler, UniPC, DMD2/TrigFlow, rCM): schedules and steps, free of any backend.
 *
 * A sampler never touches tensors. It produces a schedule, and for each step it says how to form the
 * next latent as a linear combination of named operands — the current x, the model output, the
 * denoised estimate, fresh noise and earlier steps' values kept in history slots — which the pipeline
 * runner computes with the backend's AXPBY op. The same sampler therefore runs on every backend, and
 * its arithmetic is exactly testable on the host.
 *
 * Ownership: create() returns an instance freed by destroy() (NULL accepted). Thread safety: one
 * instance per pipeline run; instances are independent. */
#ifndef DIORAMA_SAMPLER_H
#define DIORAMA_SAMPLER_H

#include <assert.h>
#include <stddef.h>
#include <stdint.h>

#include "component.h"
#include "plugin.h"

#ifdef __cplusplus
extern "C" {
#endif

#define DIO_SAMPLER_MAX_TERMS 8
#define DIO_SAMPLER_MAX_HISTORY 4

typedef enum dio_sampler_operand {
    DIO_SAMPLER_X = 0,            /* the current latent */
    DIO_SAMPLER_MODEL_OUTPUT = 1, /* what the network returned this step (velocity, x0, ...) */
    DIO_SAMPLER_NOISE = 2,        /* fresh standard normal noise from the host's generator */
    DIO_SAMPLER_HISTORY = 3,      /* a history slot, see `slot` */
    DIO_SAMPLER_OPERAND_FORCE_32BIT = 0x7fffffff
} dio_sampler_operand;

typedef struct dio_sampler_term {
    int32_t operand; /* dio_sampler_operand */
    int32_t slot;    /* for DIO_SAMPLER_HISTORY */
    double coef;
} dio_sampler_term;

/* One step, as returned by step(): next_x = Σ terms. The runner also stores (if store_slot >= 0) the
 * combination `store_terms` into history slot store_slot, and (ABI 1.1, if store2_slot >= 0)
 * `store2_terms` into store2_slot, so multistep methods keep their own derived quantities (UniPC keeps
 * the x0 estimate and the corrected sample). Every combination of one plan reads its operands as they
 * were when the step began; the stores are written and x is replaced only after all are formed, so the
 * order in which a runner evaluates them does not matter. A history slot never stored reads as zeros.
 * Readers of an older, shorter plan (struct_size) treat store2 as absent. */
typedef struct dio_sampler_plan {
    uint32_t struct_size;
    int32_t n_terms;
    dio_sampler_term terms[DIO_SAMPLER_MAX_TERMS];
    int32_t store_slot; /* -1: store nothing */
    int32_t n_store_terms;
    dio_sampler_term store_terms[DIO_SAMPLER_MAX_TERMS];
    /* ABI 1.1 */
    int32_t store2_slot; /* -1: store nothing */
    int32_t n_store2_terms;
    dio_sampler_term store2_terms[DIO_SAMPLER_MAX_TERMS];
} dio_sampler_plan;

typedef struct dio_sampler_create_info {
    uint32_t struct_size;
    uint32_t reserved0;
    const dio_host_services *host;
    const dio_kv *params;
    size_t n_params;
} dio_sampler_create_info;

typedef struct dio_sampler_iface {
    uint32_t abi_version;
    uint32_t struct_size;
    int32_t n_params;
    int32_t reserved0;
    const dio_param_desc *params;

    dio_status (*create)(const dio_sampler_create_info *info, void **out_self);
    void (*destroy)(void *self);
    /* The number of network evaluations for `steps` requested steps (a few-step sampler may fix it). */
    int32_t (*num_steps)(void *self, int32_t requested_steps);
    /* sigmas[0..n] (n + 1 values, decreasing, the noise level at each step boundary) and the timestep
     * value the network is given at step i (timesteps[0..n-1]), for n = num_steps(). */
    dio_status (*schedule)(void *self, int32_t n, double *sigmas, double *timesteps);
    /* The plan of step i (0-based) of n. Pure: depends only on i, n, the parameters and the schedule. */
    dio_status (*step)(void *self, int32_t i, int32_t n, dio_sampler_plan *out);
    /* ABI 1.1 (NULL or absent from a shorter table: 1.0). The first latent is this factor times the
     * initial noise (rCM starts at t0 * noise; flow samplers at the noise itself). */
    double (*initial_noise_scale)(void *self, int32_t n);
} dio_sampler_iface;

static_assert(offsetof(dio_sampler_iface, params) == 16, "dio_sampler_iface ABI 1.0");
static_assert(offsetof(dio_sampler_iface, create) == 24, "dio_sampler_iface ABI 1.0");
static_assert(offsetof(dio_sampler_iface, destroy) == 32, "dio_sampler_iface ABI 1.0");
static_assert(offsetof(dio_sampler_iface, num_steps) == 40, "dio_sampler_iface ABI 1.0");
static_assert(offsetof(dio_sampler_iface, schedule) == 48, "dio_sampler_iface ABI 1.0");
static_assert(offsetof(dio_sampler_iface, step) == 56, "dio_sampler_iface ABI 1.0");
static_assert(offsetof(dio_sampler_iface, initial_noise_scale) == 64, "dio_sampler_iface ABI 1.1");
static_assert(offsetof(dio_sampler_plan, terms) == 8, "dio_sampler_plan ABI 1.0");
static_assert(offsetof(dio_sampler_plan, store2_slot) == 272, "dio_sampler_plan ABI 1.1");

#ifdef __cplusplus
}
#endif
#endif
