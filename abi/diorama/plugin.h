/* diorama ABI — the plugin boundary: the one entry symbol, the descriptor it returns, and the table of
 * host services a plugin uses instead of linking libdiorama.
 *
 * A plugin is a shared library that exports exactly one symbol, DIO_PLUGIN_ENTRY_NAME, with the
 * signature dio_plugin_entry_fn; everything else is hidden (build with -fvisibility=hidden and mark the
 * entry with DIO_PLUGIN_EXPORT). The host calls it once after dlopen with its ABI range and service
 * table; the plugin returns a descriptor it owns (static storage is typical) that stays valid until the
 * library is unloaded. The host reads only the descriptor fields that fit in descriptor->struct_size.
 *
 * Negotiation: the host refuses the plugin when [abi_min, abi_max] does not overlap its own range;
 * otherwise both sides speak min(host abi_max, plugin abi_max). A plugin may also refuse, returning
 * DIO_ERR_ABI_MISMATCH from its entry after reading host->abi_min/abi_max.
 *
 * Thread safety: the entry is called once, from one thread. The service table is immutable and every
 * service may be called from any thread. */
#ifndef DIORAMA_PLUGIN_H
#define DIORAMA_PLUGIN_H

#include <assert.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "status.h"
#include "version.h"

#ifdef __cplusplus
extern "C" {
#endif

#if defined(_WIN32)
#define DIO_PLUGIN_EXPORT __declspec(dllexport)
#else
#define DIO_PLUGIN_EXPORT __attribute__((visibility("default")))
#endif

#define DIO_PLUGIN_ENTRY_NAME "dio_plugin_entry"

typedef enum dio_log_level {
    DIO_LOG_ERROR = 0,
    DIO_LOG_WARN = 1,
    DIO_LOG_INFO = 2,
    DIO_LOG_DEBUG = 3,
    DIO_LOG_FORCE_32BIT = 0x7fffffff
} dio_log_level;

typedef enum dio_plugin_kind {
    DIO_PLUGIN_BACKEND = 1,
    DIO_PLUGIN_COMPONENT = 2,
    DIO_PLUGIN_SAMPLER = 3,
    DIO_PLUGIN_KIND_FORCE_32BIT = 0x7fffffff
} dio_plugin_kind;

/* A key/value option. Options that vary per backend or component are strings, never structs. */
typedef struct dio_kv {
    const char *key;
    const char *value;
} dio_kv;

/* Services the host gives every plugin. Immutable; valid while the plugin is loaded. */
typedef struct dio_host_services {
    uint32_t abi_version; /* the host's ABI version (its max) */
    uint32_t struct_size;
    /* Writes a log line under the host's level filter. `who` names the plugin ("cpu", "dit"). */
    void (*log)(dio_log_level level, const char *who, const char *fmt, ...);
    /* Host memory with the given alignment (a power of two, >= sizeof(void*)); NULL when out of memory.
     * Free with free_aligned; free_aligned(NULL) is a no-op. */
    void *(*alloc_aligned)(size_t size, size_t alignment);
    void (*free_aligned)(void *ptr);
    /* Sets the calling thread's error message (read by the application with dio_last_error()) and
     * returns `status`, so a plugin can write `return host->set_error(DIO_ERR_..., "...", ...)`. */
    dio_status (*set_error)(dio_status status, const char *fmt, ...);
    /* Reads a host environment/config value (DIORAMA_* variables); NULL when unset. */
    const char *(*get_config)(const char *key);
} dio_host_services;

static_assert(offsetof(dio_host_services, log) == 8, "dio_host_services ABI 1.0");
static_assert(offsetof(dio_host_services, alloc_aligned) == 16, "dio_host_services ABI 1.0");
static_assert(offsetof(dio_host_services, free_aligned) == 24, "dio_host_services ABI 1.0");
static_assert(offsetof(dio_host_services, set_error) == 32, "dio_host_services ABI 1.0");
static_assert(offsetof(dio_host_services, get_config) == 40, "dio_host_services ABI 1.0");

/* What the host tells the plugin at load time. */
typedef struct dio_host_info {
    uint32_t struct_size;
    uint32_t abi_min; /* the oldest ABI the host accepts */
    uint32_t abi_max; /* the host's own ABI */
    uint32_t reserved0;
    const dio_host_services *services;
    const char *plugin_path; /* the file being loaded, for messages */
} dio_host_info;

static_assert(offsetof(dio_host_info, services) == 16, "dio_host_info ABI 1.0");
static_assert(offsetof(dio_host_info, plugin_path) == 24, "dio_host_info ABI 1.0");

struct dio_backend_iface;
struct dio_component_iface;
struct dio_sampler_iface;

/* What a plugin is. Owned by the plugin; valid until unload. */
typedef struct dio_plugin_descriptor {
    uint32_t struct_size;
    uint32_t kind;    /* dio_plugin_kind */
    uint32_t abi_min; /* the oldest host ABI this plugin can work with */
    uint32_t abi_max; /* the ABI the plugin was built against */
    const char *name; /* registry name: [a-z0-9_.-]+, unique per kind ("cpu", "cosmos-dit") */
    const char *version;
    const char *license; /* SPDX identifier */
    const char *description;
    /* Exactly the one matching `kind` is non-NULL. */
    const struct dio_backend_iface *backend;
    const struct dio_component_iface *component;
    const struct dio_sampler_iface *sampler;
} dio_plugin_descriptor;

static_assert(offsetof(dio_plugin_descriptor, name) == 16, "dio_plugin_descriptor ABI 1.0");
static_assert(offsetof(dio_plugin_descriptor, version) == 24, "dio_plugin_descriptor ABI 1.0");
static_assert(offsetof(dio_plugin_descriptor, license) == 32, "dio_plugin_descriptor ABI 1.0");
static_assert(offsetof(dio_plugin_descriptor, description) == 40, "dio_plugin_descriptor ABI 1.0");
static_assert(offsetof(dio_plugin_descriptor, backend) == 48, "dio_plugin_descriptor ABI 1.0");
static_assert(offsetof(dio_plugin_descriptor, component) == 56, "dio_plugin_descriptor ABI 1.0");
static_assert(offsetof(dio_plugin_descriptor, sampler) == 64, "dio_plugin_descriptor ABI 1.0");

/* The entry symbol. On success sets *out to the plugin's descriptor and returns DIO_OK; on failure
 * leaves *out untouched and returns a status (message through host->services->set_error). */
typedef dio_status (*dio_plugin_entry_fn)(const dio_host_info *host, const dio_plugin_descriptor **out);

/* The prototype every plugin defines (with DIO_PLUGIN_EXPORT), declared here so it is type-checked. */
dio_status dio_plugin_entry(const dio_host_info *host, const dio_plugin_descriptor **out);

#ifdef __cplusplus
}
#endif
#endif
