/* Test plugin: an ABI 1.0 sampler ("fake-v10"), as a plugin built before ABI 1.1 looks to the host: its
 * table's struct_size ends at step (no initial_noise_scale; the slot after it holds a function the host
 * must not call) and its plans' struct_size ends before store2 (the bytes after it hold junk the host
 * must not read). The plan is Euler on sigmas 1, 0.5, 0 with a store of X into slot 1. */
#include <stddef.h>
#include <stdlib.h>

#include "diorama/plugin.h"
#include "diorama/sampler.h"

static dio_status fake_create(const dio_sampler_create_info *info, void **out)
{
    (void)info;
    *out = malloc(1);
    return *out ? DIO_OK : DIO_ERR_OUT_OF_HOST_MEMORY;
}

static void fake_destroy(void *self)
{
    free(self);
}

static int32_t fake_num_steps(void *self, int32_t requested)
{
    (void)self;
    (void)requested;
    return 2;
}

static dio_status fake_schedule(void *self, int32_t n, double *sigmas, double *timesteps)
{
    (void)self;
    for (int32_t i = 0; i <= n; i++) sigmas[i] = 1.0 - (double)i / n;
    for (int32_t i = 0; i < n; i++) timesteps[i] = 1000.0 * sigmas[i];
    return DIO_OK;
}

static dio_status fake_step(void *self, int32_t i, int32_t n, dio_sampler_plan *out)
{
    (void)self;
    out->struct_size = (uint32_t)offsetof(dio_sampler_plan, store2_slot);
    out->n_terms = 2;
    out->terms[0].operand = DIO_SAMPLER_X;
    out->terms[0].slot = 0;
    out->terms[0].coef = 1.0;
    out->terms[1].operand = DIO_SAMPLER_MODEL_OUTPUT;
    out->terms[1].slot = 0;
    out->terms[1].coef = -1.0 / n;
    out->store_slot = 1;
    out->n_store_terms = 1;
    out->store_terms[0].operand = DIO_SAMPLER_X;
    out->store_terms[0].slot = 0;
    out->store_terms[0].coef = 1.0;
    /* beyond the 1.0 plan: what a 1.0 plugin's stale memory could hold */
    out->store2_slot = 3 + i;
    out->n_store2_terms = 99;
    return DIO_OK;
}

static double fake_noise_scale(void *self, int32_t n)
{
    (void)self;
    (void)n;
    return 42.0;
}

static const dio_sampler_iface fake_iface = {
    .abi_version = DIO_ABI_MAKE(1, 0),
    .struct_size = (uint32_t)offsetof(dio_sampler_iface, initial_noise_scale),
    .n_params = 0,
    .params = NULL,
    .create = fake_create,
    .destroy = fake_destroy,
    .num_steps = fake_num_steps,
    .schedule = fake_schedule,
    .step = fake_step,
    .initial_noise_scale = fake_noise_scale,
};

static const dio_plugin_descriptor fake_descriptor = {
    .struct_size = sizeof(dio_plugin_descriptor),
    .kind = DIO_PLUGIN_SAMPLER,
    .abi_min = DIO_ABI_MAKE(1, 0),
    .abi_max = DIO_ABI_MAKE(1, 0),
    .name = "fake-v10",
    .version = "0.0.1",
    .license = "Apache-2.0",
    .description = "test: an ABI 1.0 sampler",
    .sampler = &fake_iface,
};

DIO_PLUGIN_EXPORT dio_status dio_plugin_entry(const dio_host_info *host, const dio_plugin_descriptor **out)
{
    (void)host;
    *out = &fake_descriptor;
    return DIO_OK;
}
