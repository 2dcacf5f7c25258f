/* example-affine — a third-party component plugin: y = alpha · x · scale + bias.
 *
 * It shows what a model component does in miniature: declare ports and parameters, take weights from
 * the host's weight source (so every file format the host reads works here), place them on whatever
 * backend it is given, and compute only through that backend's op table (MUL, AXPBY, ADD), so it runs
 * on CPU, CUDA or HIP unchanged. Weights: "scale" [C] and optional "bias" [C]; input x [..., C] f32. */
#include <stdlib.h>
#include <string.h>

#include "diorama/component.h"
#include "diorama/ops.h"

typedef struct affine {
    const dio_host_services *host;
    dio_backend_ref be;
    float alpha;
    dio_tensor scale, bias;
    dio_buffer *scale_buf, *bias_buf;
    int has_bias;
} affine;

static const dio_port_desc affine_inputs[] = {
    {sizeof(dio_port_desc), DIO_DTYPE_F32, -1, 0, "x", "[..., C]", "values to transform"},
};
static const dio_port_desc affine_outputs[] = {
    {sizeof(dio_port_desc), DIO_DTYPE_F32, -1, 0, "y", "like x", "alpha * x * scale + bias"},
};
static const dio_param_desc affine_params[] = {
    {sizeof(dio_param_desc), DIO_PARAM_FLOAT, "alpha", "1", -1e6, 1e6, NULL, "overall gain"},
};

static dio_status place_weight(affine *a, const dio_weight_info *w, dio_tensor *t, dio_buffer **buf)
{
    dio_status st = dio_backend_place_host(&a->be, w->data, w->nbytes, dio_dtype_size(w->dtype), buf);
    if (st != DIO_OK) return st;
    dio_tensor_init(t, w->dtype, w->ndim, w->shape, *buf, 0);
    return DIO_OK;
}

static void affine_destroy(void *self)
{
    affine *a = self;
    if (!a) return;
    if (a->scale_buf) a->be.iface->buffer_free(a->be.ctx, a->scale_buf);
    if (a->bias_buf) a->be.iface->buffer_free(a->be.ctx, a->bias_buf);
    free(a);
}

static dio_status affine_create(const dio_component_create_info *info, void **out)
{
    affine *a = NULL;
    dio_weight_info w;
    dio_status st;
    const dio_host_services *h = info->host;
    if (!info->weights)
        return h->set_error(DIO_ERR_INVALID_ARGUMENT, "example-affine: needs weights (scale, bias)");
    a = calloc(1, sizeof(*a));
    if (!a) return h->set_error(DIO_ERR_OUT_OF_HOST_MEMORY, "example-affine: out of memory");
    a->host = h;
    a->be = *info->backend;
    a->alpha = 1.0f;
    for (size_t i = 0; i < info->n_params; i++)
        if (strcmp(info->params[i].key, "alpha") == 0) a->alpha = strtof(info->params[i].value, NULL);
    w.struct_size = sizeof(w);
    if (info->weights->find(info->weights->ctx, "scale", &w) != DIO_OK) {
        st = h->set_error(DIO_ERR_INVALID_ARGUMENT, "example-affine: weight \"scale\" is missing");
        goto fail;
    }
    if (w.ndim != 1 || w.dtype != DIO_DTYPE_F32) {
        st = h->set_error(DIO_ERR_BAD_FORMAT, "example-affine: weight \"scale\" must be f32 [C]");
        goto fail;
    }
    if ((st = place_weight(a, &w, &a->scale, &a->scale_buf)) != DIO_OK) goto fail;
    if (info->weights->find(info->weights->ctx, "bias", &w) == DIO_OK) {
        if (w.ndim != 1 || w.dtype != DIO_DTYPE_F32 || w.shape[0] != a->scale.shape[0]) {
            st = h->set_error(DIO_ERR_BAD_FORMAT,
                              "example-affine: weight \"bias\" must be f32 [C] like scale");
            goto fail;
        }
        if ((st = place_weight(a, &w, &a->bias, &a->bias_buf)) != DIO_OK) goto fail;
        a->has_bias = 1;
    }
    *out = a;
    return DIO_OK;
fail:
    affine_destroy(a);
    return st;
}

static dio_status affine_output_shapes(void *self, const dio_tensor *const *in, dio_tensor *out)
{
    affine *a = self;
    const dio_tensor *x = in[0];
    if (x->ndim < 1 || x->shape[x->ndim - 1] != a->scale.shape[0])
        return a->host->set_error(DIO_ERR_INVALID_ARGUMENT,
                                  "example-affine: input \"x\" must end in C = %lld",
                                  (long long)a->scale.shape[0]);
    dio_tensor_init(&out[0], DIO_DTYPE_F32, x->ndim, x->shape, NULL, 0);
    return DIO_OK;
}

static dio_status affine_run(void *self, dio_stream *s, const dio_tensor *const *in,
                             const dio_tensor *const *out)
{
    affine *a = self;
    dio_status st;
    dio_axpby_params ax = {sizeof(ax), a->alpha, 0.0f};
    const dio_tensor *mul_in[] = {in[0], &a->scale};
    const dio_tensor *ax_in[] = {out[0], NULL};
    const dio_tensor *add_in[] = {out[0], &a->bias};
    if ((st = dio_run(&a->be, s, DIO_OP_MUL, mul_in, 2, out, 1, NULL)) != DIO_OK) return st;
    if ((st = dio_run(&a->be, s, DIO_OP_AXPBY, ax_in, 2, out, 1, &ax)) != DIO_OK) return st;
    if (a->has_bias && (st = dio_run(&a->be, s, DIO_OP_ADD, add_in, 2, out, 1, NULL)) != DIO_OK) return st;
    return DIO_OK;
}

static const dio_component_iface affine_iface = {
    .abi_version = DIO_ABI_VERSION,
    .struct_size = sizeof(dio_component_iface),
    .n_inputs = 1,
    .n_outputs = 1,
    .n_params = 1,
    .inputs = affine_inputs,
    .outputs = affine_outputs,
    .params = affine_params,
    .create = affine_create,
    .destroy = affine_destroy,
    .output_shapes = affine_output_shapes,
    .run = affine_run,
};

static const dio_plugin_descriptor affine_descriptor = {
    .struct_size = sizeof(dio_plugin_descriptor),
    .kind = DIO_PLUGIN_COMPONENT,
    .abi_min = DIO_ABI_MAKE(1, 0),
    .abi_max = DIO_ABI_VERSION,
    .name = "example-affine",
    .version = "1.0.0",
    .license = "Apache-2.0",
    .description = "third-party example: y = alpha * x * scale + bias",
    .component = &affine_iface,
};

DIO_PLUGIN_EXPORT dio_status dio_plugin_entry(const dio_host_info *host, const dio_plugin_descriptor **out)
{
    (void)host;
    *out = &affine_descriptor;
    return DIO_OK;
}
