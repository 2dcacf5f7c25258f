/* diorama ABI — model components (DiT, VAE encoder/decoder, text encoder, ControlNet, action embedder).
 *
 * A component declares named, typed input and output ports and typed parameters with defaults and
 * ranges; it is created from a weight source (names → dtype, shape, bytes, provided by the host so that
 * every file format the host reads works for every component) plus parameters, on one backend; then
 * run() maps input tensors to output tensors. A component computes only through the backend op table
 * in its dio_backend_ref (it never calls CUDA, HIP or oneDNN itself), so it runs on every backend.
 *
 * Ownership: create() returns an instance the caller frees with destroy() (NULL accepted). The weight
 * source and the backend outlive the instance; weight bytes stay valid until the source is closed,
 * which the host does only after destroy(). Output tensors are allocated by the caller from the shapes
 * that output_shapes() reports.
 * Thread safety: one instance runs one call at a time; distinct instances are independent. */
#ifndef DIORAMA_COMPONENT_H
#define DIORAMA_COMPONENT_H

#include <assert.h>
#include <stddef.h>
#include <stdint.h>

#include "backend.h"
#include "plugin.h"
#include "tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct dio_port_desc {
    uint32_t struct_size;
    int32_t dtype;     /* dio_dtype, or -1 for "any float" */
    int32_t ndim;      /* -1 for any rank */
    int32_t optional;  /* inputs only */
    const char *name;  /* "latents", "timestep", "text_embeddings" */
    const char *shape; /* the shape rule in words, e.g. "[B, 16, T, H, W]" */
    const char *doc;
} dio_port_desc;

typedef enum dio_param_type {
    DIO_PARAM_INT = 0,
    DIO_PARAM_FLOAT = 1,
    DIO_PARAM_BOOL = 2,
    DIO_PARAM_STRING = 3,
    DIO_PARAM_ENUM = 4, /* a string among `choices` ("|"-separated) */
    DIO_PARAM_TYPE_FORCE_32BIT = 0x7fffffff
} dio_param_type;

typedef struct dio_param_desc {
    uint32_t struct_size;
    int32_t type; /* dio_param_type */
    const char *name;
    const char *default_value; /* as a string, as it would appear in a graph file */
    double min, max;           /* numeric range, inclusive; ignored when min > max */
    const char *choices;       /* DIO_PARAM_ENUM only */
    const char *doc;
} dio_param_desc;

/* What a weight source returns for one name. `data` is host memory (possibly mmap'd read-only),
 * row-major, valid until the source is closed. */
typedef struct dio_weight_info {
    uint32_t struct_size;
    int32_t dtype;
    int32_t ndim;
    int32_t reserved0;
    int64_t shape[DIO_MAX_DIMS];
    const void *data;
    uint64_t nbytes;
} dio_weight_info;

/* The host's view of a set of weights (a safetensors file or folder, a .pt checkpoint, ...). */
typedef struct dio_weight_source {
    uint32_t abi_version;
    uint32_t struct_size;
    void *ctx;
    /* DIO_OK and *out filled when `name` exists; DIO_ERR_INVALID_ARGUMENT (no message set) when not. */
    dio_status (*find)(void *ctx, const char *name, dio_weight_info *out);
    int64_t (*count)(void *ctx);
    const char *(*name_at)(void *ctx, int64_t index); /* NULL when out of range */
} dio_weight_source;

/* 1 when the source holds `name` (no message is set when it does not): for probing key layouts. */
static inline int dio_weight_source_has(const dio_weight_source *src, const char *name)
{
    dio_weight_info w;
    w.struct_size = (uint32_t)sizeof(w);
    return src->find(src->ctx, name, &w) == DIO_OK;
}

typedef struct dio_component_create_info {
    uint32_t struct_size;
    uint32_t reserved0;
    const dio_host_services *host;
    const dio_backend_ref *backend;
    const dio_weight_source *weights; /* may be NULL for weight-free components */
    const dio_kv *params;             /* validated by the host against the param descs */
    size_t n_params;
} dio_component_create_info;

typedef struct dio_component_iface {
    uint32_t abi_version;
    uint32_t struct_size;
    int32_t n_inputs, n_outputs, n_params;
    int32_t reserved0;
    const dio_port_desc *inputs;
    const dio_port_desc *outputs;
    const dio_param_desc *params;

    dio_status (*create)(const dio_component_create_info *info, void **out_self);
    void (*destroy)(void *self);
    /* Given the inputs (in port order; NULL for absent optional ones), fills out[i] with each output's
     * dtype, ndim and shape (buffer NULL). INVALID_ARGUMENT naming the port when a shape rule fails. */
    dio_status (*output_shapes)(void *self, const dio_tensor *const *inputs, dio_tensor *out);
    /* Runs on `stream`; outputs are caller-allocated views shaped as output_shapes said. */
    dio_status (*run)(void *self, dio_stream *stream, const dio_tensor *const *inputs,
                      const dio_tensor *const *outputs);
} dio_component_iface;

static_assert(offsetof(dio_component_iface, inputs) == 24, "dio_component_iface ABI 1.0");
static_assert(offsetof(dio_component_iface, outputs) == 32, "dio_component_iface ABI 1.0");
static_assert(offsetof(dio_component_iface, params) == 40, "dio_component_iface ABI 1.0");
static_assert(offsetof(dio_component_iface, create) == 48, "dio_component_iface ABI 1.0");
static_assert(offsetof(dio_component_iface, destroy) == 56, "dio_component_iface ABI 1.0");
static_assert(offsetof(dio_component_iface, output_shapes) == 64, "dio_component_iface ABI 1.0");
static_assert(offsetof(dio_component_iface, run) == 72, "dio_component_iface ABI 1.0");
static_assert(offsetof(dio_weight_source, find) == 16, "dio_weight_source ABI 1.0");
static_assert(offsetof(dio_weight_info, data) == 64, "dio_weight_info ABI 1.0");
static_assert(offsetof(dio_component_create_info, host) == 8, "dio_component_create_info ABI 1.0");
static_assert(offsetof(dio_port_desc, name) == 16, "dio_port_desc ABI 1.0");
static_assert(offsetof(dio_param_desc, name) == 8, "dio_param_desc ABI 1.0");

#ifdef __cplusplus
}
#endif
#endif
