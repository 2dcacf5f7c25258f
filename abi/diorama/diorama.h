/* diorama — the application API of libdiorama: plugin discovery and the registry, opening a backend by
 * name, weights (safetensors files and sharded folders, PyTorch checkpoints), the per-thread error
 * message and logging.
 *
 * Applications include this header and link libdiorama; plugins never do (they get the host services
 * of plugin.h instead). Every fallible call returns a dio_status and, on failure, leaves a message for
 * dio_last_error() and its out-parameters untouched. Every destroy/close accepts NULL.
 * Thread safety: a dio_context is built on one thread (create + load) and is then read-only, safe to
 * share; dio_last_error() is per thread. */
#ifndef DIORAMA_DIORAMA_H
#define DIORAMA_DIORAMA_H

#include <stddef.h>
#include <stdint.h>

#include "api.h"
#include "backend.h"
#include "component.h"
#include "ops.h"
#include "plugin.h"
#include "sampler.h"
#include "status.h"
#include "tensor.h"
#include "version.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The calling thread's message for the last failure ("" when none). Valid until the thread's next
 * diorama call. */
DIO_API const char *dio_last_error(void);
/* Sets the calling thread's message and returns `status` (what plugins reach via set_error). */
DIO_API dio_status dio_set_error(dio_status status, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
DIO_API void dio_clear_error(void);

/* Logging. The level starts at WARN, or DEBUG when the environment has DIORAMA_DEBUG=1 (any value but
 * "0"), or the level named by DIORAMA_LOG (error, warn, info, debug). Lines go to stderr. */
DIO_API void dio_log_set_level(dio_log_level level);
DIO_API dio_log_level dio_log_get_level(void);
DIO_API void dio_log(dio_log_level level, const char *who, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

/* The host service table libdiorama hands to plugins (also usable to drive a plugin by hand). */
DIO_API const dio_host_services *dio_host_services_get(void);

/* ---- plugins and the registry ---- */

typedef struct dio_context dio_context;

/* Where create() looks for plugins, in this order (a plugin name seen first wins; a later duplicate
 * is refused and reported):
 *   1. each directory in options.plugin_dirs (explicit);
 *   2. each directory in DIORAMA_PLUGIN_PATH (':'-separated), unless options.no_env;
 *   3. the directory of the running executable and its ../lib/diorama, unless options.no_default_dirs;
 *   4. the install directory: <dir of libdiorama>/diorama and the configured <prefix>/lib/diorama,
 *      unless options.no_default_dirs.
 * Files named libdio_NAME.so are candidates. A file that fails to load is recorded as
 * refused with its reason; it never makes create() fail. */
typedef struct dio_context_options {
    uint32_t struct_size;
    int32_t no_env;
    int32_t no_default_dirs;
    int32_t reserved0;
    const char *const *plugin_dirs;
    size_t n_plugin_dirs;
} dio_context_options;

/* options may be NULL (defaults). Caller destroys *out with dio_context_destroy. */
DIO_API dio_status dio_context_create(const dio_context_options *options, dio_context **out);
/* Frees the registry; every backend, component or sampler made from it must be gone (otherwise the
 * context logs an error and leaks rather than crash). Accepted plugin libraries stay mapped until the
 * process exits, because their thread pools may outlive their objects. NULL ok. */
DIO_API void dio_context_destroy(dio_context *ctx);
/* Loads one more plugin file, or every candidate in a directory. Fails (and records the refusal)
 * only for an explicit file that cannot be used. */
DIO_API dio_status dio_context_load(dio_context *ctx, const char *path);

typedef struct dio_plugin_info {
    uint32_t struct_size;
    int32_t accepted; /* 1 loaded and registered, 0 refused */
    int32_t kind;     /* dio_plugin_kind, 0 when refused before the descriptor was read */
    uint32_t abi_min, abi_max, abi_agreed;
    const char *path;
    const char *name; /* NULL when refused before the descriptor was read */
    const char *version;
    const char *license;
    const char *description;
    const char *refusal;                     /* why it was refused, NULL when accepted */
    const dio_plugin_descriptor *descriptor; /* NULL when refused */
} dio_plugin_info;

/* Everything seen, accepted or refused, in discovery order. Strings live as long as the context. */
DIO_API int32_t dio_context_plugin_count(const dio_context *ctx);
DIO_API dio_status dio_context_plugin_at(const dio_context *ctx, int32_t index, dio_plugin_info *out);
/* The accepted plugin of that kind and name; NOT_SUPPORTED naming the known ones when absent. */
DIO_API dio_status dio_context_find(const dio_context *ctx, dio_plugin_kind kind, const char *name,
                                    const dio_plugin_descriptor **out);

/* ---- backends ---- */

typedef struct dio_backend dio_backend;

/* Opens backend `name`; NULL means $DIORAMA_BACKEND, else "cpu". Options go to the plugin's create.
 * Close with dio_backend_close (NULL ok) before destroying the context. */
DIO_API dio_status dio_backend_open(dio_context *ctx, const char *name, const dio_kv *options,
                                    size_t n_options, dio_backend **out);
DIO_API void dio_backend_close(dio_backend *backend);
DIO_API const char *dio_backend_name(const dio_backend *backend);
/* The table/context/device triple components take. The reference is valid while the backend is open. */
DIO_API dio_backend_ref dio_backend_get_ref(const dio_backend *backend, int32_t device);
/* The backend's default stream for device 0, created on open. */
DIO_API dio_stream *dio_backend_default_stream(const dio_backend *backend);

/* Asks the backend whether it runs `op` with activations of `dtype` (weights of matmul/conv in the
 * same dtype), on a small canonical call of that op: DIO_OK or DIO_ERR_NOT_SUPPORTED (message says
 * why). This is the support matrix `diorama ops` prints. */
DIO_API dio_status dio_backend_probe_op(dio_backend *backend, int32_t op, int32_t dtype);

/* ---- components ---- */

typedef struct dio_component dio_component;
typedef struct dio_weights dio_weights; /* see "weights and tensor files" below */

/* Checks `params` against the descriptors: every key known, every value of its type and inside its
 * range or choices. INVALID_ARGUMENT naming `who`, the key and the rule otherwise. */
DIO_API dio_status dio_params_validate(const char *who, const dio_param_desc *descs, int32_t n_descs,
                                       const dio_kv *params, size_t n_params);

/* Creates component `name` on `backend` from `weights` (NULL for weight-free components) and params
 * (validated first). Destroy with dio_component_destroy (NULL ok) before closing the backend, the
 * weights or the context. */
DIO_API dio_status dio_component_create(dio_context *ctx, dio_backend *backend, const char *name,
                                        const dio_weights *weights, const dio_kv *params, size_t n_params,
                                        dio_component **out);
DIO_API void dio_component_destroy(dio_component *component);
DIO_API const dio_component_iface *dio_component_get_iface(const dio_component *component);
/* Port-order inputs (NULL for absent optional ones); see dio_component_iface. */
DIO_API dio_status dio_component_output_shapes(dio_component *component, const dio_tensor *const *inputs,
                                               dio_tensor *outputs);
DIO_API dio_status dio_component_run(dio_component *component, const dio_tensor *const *inputs,
                                     const dio_tensor *const *outputs);

/* ---- samplers ---- */

typedef struct dio_sampler dio_sampler;

/* Creates sampler `name` ("flow-euler", "flow-unipc", "dmd2", "rcm", or a third party's) with params
 * validated against its descriptors. Destroy with dio_sampler_destroy (NULL ok) before the context. */
DIO_API dio_status dio_sampler_create(dio_context *ctx, const char *name, const dio_kv *params,
                                      size_t n_params, dio_sampler **out);
DIO_API void dio_sampler_destroy(dio_sampler *sampler);
DIO_API const dio_sampler_iface *dio_sampler_get_iface(const dio_sampler *sampler);
/* See dio_sampler_iface. num_steps is >= 1, or 0 with the error set. */
DIO_API int32_t dio_sampler_num_steps(dio_sampler *sampler, int32_t requested_steps);
DIO_API dio_status dio_sampler_schedule(dio_sampler *sampler, int32_t n, double *sigmas, double *timesteps);
/* The plan of step i of n; a plan from an ABI 1.0 plugin is returned with store2 absent. */
DIO_API dio_status dio_sampler_step(dio_sampler *sampler, int32_t i, int32_t n, dio_sampler_plan *out);
/* 1.0 for a plugin that does not say (ABI 1.0). */
DIO_API double dio_sampler_initial_noise_scale(dio_sampler *sampler, int32_t n);

/* ---- weights and tensor files ---- */

typedef struct dio_weights dio_weights;

/* Opens a .safetensors file, a PyTorch checkpoint written by torch.save (the zip format of torch 1.6
 * and later: *.pt, *.pth, pytorch_model*.bin), a *.index.json whose shards are either, or a directory
 * holding exactly one *.safetensors.index.json (else exactly one .safetensors). A file's kind is told
 * by its first bytes, not its name. Files are mmap'd read-only; every offset is checked against the
 * file size before any tensor is exposed. BAD_FORMAT / IO name the file and the tensor. Close with
 * dio_weights_close.
 *
 * PyTorch checkpoints: only data is rebuilt, by a restricted unpickler; nothing in the file is ever
 * executed, and any global or opcode outside what torch.save writes for dicts of tensors is
 * BAD_FORMAT naming it. Each tensor is exposed under the full dotted path of the dicts (str or int
 * keys) and lists holding it, as stored, with no prefix stripped: {"model": {"net.x.weight": T}}
 * gives "model.net.x.weight". Components look keys up with the prefixes they accept (the DiT tries
 * "net.", "model.net.", ... itself). Contiguous tensors are zero-copy views of the mapping; a
 * non-contiguous one (a transpose, an expand) is copied. Tensors of dtypes diorama lacks (float64,
 * bool, int8, int16, uint16/32/64, complex, other fp8 variants) are checked, then left out, with one
 * INFO log line. The checkpoint's plain values (str, int, float, bool, None) are its metadata, under
 * their dotted paths, as text: ints in decimal, floats as "%.17g", "True", "False", "None". */
DIO_API dio_status dio_weights_open(const char *path, dio_weights **out);
DIO_API void dio_weights_close(dio_weights *weights);
DIO_API int64_t dio_weights_count(const dio_weights *weights);
/* Sorted by name. *name stays valid until close. */
DIO_API dio_status dio_weights_at(const dio_weights *weights, int64_t index, const char **name,
                                  dio_weight_info *info);
/* INVALID_ARGUMENT naming the tensor and the file when absent. */
DIO_API dio_status dio_weights_find(const dio_weights *weights, const char *name, dio_weight_info *info);
/* The metadata value for `key` of the (first) file's "__metadata__" (a checkpoint's plain values, see
 * dio_weights_open), or NULL. */
DIO_API const char *dio_weights_metadata(const dio_weights *weights, const char *key);
/* A weight source view for components; valid until close. */
DIO_API const dio_weight_source *dio_weights_source(const dio_weights *weights);

/* One tensor to write: host memory, contiguous row-major. */
typedef struct dio_named_tensor {
    const char *name;
    int32_t dtype;
    int32_t ndim;
    int64_t shape[DIO_MAX_DIMS];
    const void *data;
} dio_named_tensor;

/* Writes a safetensors file atomically: to a temporary file beside `path`, then renamed, so a failure
 * never leaves a half-written file under the final name. Tensors are stored in the given order. */
DIO_API dio_status dio_safetensors_write(const char *path, const dio_named_tensor *tensors, size_t n,
                                         const dio_kv *metadata, size_t n_metadata);

/* ---- on-disk cache (prompt embeddings today; anything keyed by content tomorrow) ----
 *
 * The cache directory is $DIORAMA_CACHE_DIR, else $XDG_CACHE_HOME/diorama, else $HOME/.cache/diorama.
 * Entries are safetensors files <dir>/<kind>/<key>.safetensors, written atomically, so a reader never
 * sees a half-written entry and two writers of the same key leave one whole file. */

/* SHA-256 of `n` bytes (FIPS 180-4), into 32 bytes. */
DIO_API void dio_sha256(const void *data, size_t n, uint8_t out[32]);

/* An incremental cache key: a SHA-256 over length-prefixed parts, so ("ab","c") and ("a","bc") differ. */
typedef struct dio_cache_key {
    uint32_t h[8];
    uint64_t total;
    uint8_t block[64];
    uint32_t used;
} dio_cache_key;
DIO_API void dio_cache_key_init(dio_cache_key *k);
DIO_API void dio_cache_key_add(dio_cache_key *k, const void *data, size_t n);
DIO_API void dio_cache_key_add_str(dio_cache_key *k, const char *s);
/* Adds the identity of a file, or of every regular file directly in a directory (sorted by name):
 * its resolved path, size and modification time in ns. Cheap (no file is read) and it changes when a
 * file is rewritten or replaced. IO naming the path when it cannot be stat'ed. */
DIO_API dio_status dio_cache_key_add_file(dio_cache_key *k, const char *path);
/* The key as 64 lowercase hex digits plus NUL. */
DIO_API void dio_cache_key_hex(const dio_cache_key *k, char out[65]);

/* The cache directory (not created); IO when no environment variable gives one. */
DIO_API dio_status dio_cache_dir(char *out, size_t size);
/* DIO_OK and the entry's path when <dir>/<kind>/<hex>.safetensors exists; INVALID_ARGUMENT (no
 * message set) when it does not. */
DIO_API dio_status dio_cache_lookup(const char *kind, const char *hex, char *path, size_t size);
/* Stores the tensors as <dir>/<kind>/<hex>.safetensors (directories created, atomic write). */
DIO_API dio_status dio_cache_store(const char *kind, const char *hex, const dio_named_tensor *tensors,
                                   size_t n, const dio_kv *metadata, size_t n_metadata);

#ifdef __cplusplus
}
#endif

#include "graph.h"
#include "media.h"
#include "noise.h"
#endif
