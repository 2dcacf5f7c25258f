/* samplers — what the four sampler plugins share: the flow schedules (Karras "schedule B" and shifted
 * "schedule A", tests/fixtures/schedulers/README.md) with their parameters, the TrigFlow → rectified-flow
 * time map, and a small builder of plan terms.
 *
 * Every sampler keeps the latent in rectified-flow space, x = (1 − σ)·x0 + σ·ε, and the model output is
 * the velocity v = ε − x0, so x0 = x − σ·v. Sigmas are returned as float64 holding the float32 table
 * values (UniPC and Euler use those, as diffusers and the native code do); timesteps are what the network
 * is fed (the integer trunc(σ·1000) for the flow schedules). */
#ifndef DIO_SAMPLERS_SCHED_H
#define DIO_SAMPLERS_SCHED_H

#include <stddef.h>
#include <stdint.h>

#include "diorama/sampler.h"

/* The largest step count a flow schedule accepts. */
#define SCHED_MAX_STEPS 100000

typedef struct flow_sched {
    int karras;   /* 1: schedule B (Karras in EDM σ, mapped to σ/(1+σ)); 0: schedule A (shift) */
    int native;   /* karras only: native step count (N → N+1 evaluations) instead of diffusers' N */
    double shift; /* schedule A */
    double sigma_max, sigma_min, rho;
} flow_sched;

/* The flow samplers' parameters (schedule, convention, shift, sigma_max, sigma_min, rho). */
#define FLOW_SCHED_N_PARAMS 6
extern const dio_param_desc flow_sched_params[FLOW_SCHED_N_PARAMS];

/* Reads the (host-validated) params, applies the per-schedule defaults and checks what the ranges
 * cannot (sigma_min < sigma_max, a shift grid within [0, 1]). INVALID_ARGUMENT naming `who` otherwise. */
dio_status flow_sched_parse(const dio_host_services *host, const char *who, const dio_kv *params,
                            size_t n_params, flow_sched *out);
/* Network evaluations for `requested` steps: requested, or requested + 1 for karras/native. 0 with the
 * error set when out of range. */
int32_t flow_sched_num_steps(const flow_sched *s, const dio_host_services *host, const char *who,
                             int32_t requested);
/* sigmas[0..n] (float32 values, trailing 0) and timesteps[0..n-1] (trunc(σ·1000) of the float64 σ), for
 * n evaluations. INVALID_ARGUMENT when n is not a count num_steps can return. */
dio_status flow_sched_build(const flow_sched *s, const dio_host_services *host, const char *who, int32_t n,
                            double *sigmas, double *timesteps);

/* The schedule of n evaluations, built once and kept for the step() calls of a run. */
typedef struct flow_table {
    int32_t n; /* 0: empty */
    double *sigmas, *timesteps;
} flow_table;
dio_status flow_table_get(flow_table *t, const flow_sched *s, const dio_host_services *host, const char *who,
                          int32_t n);
void flow_table_free(flow_table *t);

/* TrigFlow time τ → rectified-flow time t = sin τ / (cos τ + sin τ). */
double trig_to_rf(double tau);

/* A linear combination of the plan operands, accumulated per operand before it becomes terms. */
typedef struct lin_comb {
    double x, model, noise;
    double hist[DIO_SAMPLER_MAX_HISTORY];
} lin_comb;

/* out = a·p + b·q (either may be NULL for zero). */
void lin_axpby(lin_comb *out, double a, const lin_comb *p, double b, const lin_comb *q);
/* Writes the non-zero coefficients of c as terms (at most 3 + DIO_SAMPLER_MAX_HISTORY); returns the count. */
int32_t lin_to_terms(const lin_comb *c, dio_sampler_term *terms);
/* A plan with nothing stored (struct_size set, store slots -1). */
void plan_init(dio_sampler_plan *p);

/* Checks 0 <= i < n; INVALID_ARGUMENT naming `who` otherwise. */
dio_status check_step(const dio_host_services *host, const char *who, int32_t i, int32_t n);

#endif
