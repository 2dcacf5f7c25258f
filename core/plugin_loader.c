/* libdiorama — plugin discovery, ABI negotiation and the registry.
 *
 * Design (after the Vulkan loader's negotiation and GStreamer's descriptors): a plugin exports one
 * symbol; the host passes its ABI range and service table and gets back a descriptor, which it checks
 * completely before registering anything — struct sizes, the range overlap, the name, the kind's table
 * and its required slots, duplicates. Every refusal is recorded with its reason and the file, so
 * `diorama plugins` can say exactly why something was not used; a refused plugin never fails the
 * context. Libraries are opened RTLD_LOCAL so two plugins cannot see each other's symbols. Directory
 * scans are sorted so the first-found-wins rule is deterministic. Refused libraries are closed at once;
 * accepted ones are pinned for the life of the process (see load_file). */
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "context_internal.h"
#include "plugin_check.h"

#ifndef DIO_INSTALL_PLUGIN_DIR
#define DIO_INSTALL_PLUGIN_DIR "/usr/local/lib/diorama"
#endif

static const char *kind_name(int32_t kind)
{
    switch (kind) {
    case DIO_PLUGIN_BACKEND: return "backend";
    case DIO_PLUGIN_COMPONENT: return "component";
    case DIO_PLUGIN_SAMPLER: return "sampler";
    default: return "unknown";
    }
}

static char *dup_or_null(const char *s)
{
    return s ? strdup(s) : NULL;
}

static void record_free(dio_plugin_record *r)
{
    free(r->path);
    free(r->refusal);
    free(r->name);
    free(r->version);
    free(r->license);
    free(r->description);
}

static dio_plugin_record *record_push(dio_context *ctx, const char *path)
{
    dio_plugin_record *r;
    if (ctx->n_records == ctx->cap_records) {
        int32_t cap = ctx->cap_records ? ctx->cap_records * 2 : 16;
        dio_plugin_record *grown = realloc(ctx->records, (size_t)cap * sizeof(*grown));
        if (!grown) return NULL;
        ctx->records = grown;
        ctx->cap_records = cap;
    }
    r = &ctx->records[ctx->n_records];
    memset(r, 0, sizeof(*r));
    r->path = strdup(path);
    if (!r->path) return NULL;
    ctx->n_records++;
    return r;
}

static const dio_plugin_record *find_accepted(const dio_context *ctx, int32_t kind, const char *name)
{
    for (int32_t i = 0; i < ctx->n_records; i++) {
        const dio_plugin_record *r = &ctx->records[i];
        if (r->descriptor && r->kind == kind && strcmp(r->name, name) == 0) return r;
    }
    return NULL;
}

static int already_seen(const dio_context *ctx, const char *path)
{
    for (int32_t i = 0; i < ctx->n_records; i++)
        if (strcmp(ctx->records[i].path, path) == 0) return 1;
    return 0;
}

/* Loads one file. Returns DIO_OK when accepted; otherwise the refusal's status (the record keeps the
 * reason and dio_last_error() says it too). */
static dio_status load_file(dio_context *ctx, const char *path)
{
    char resolved[PATH_MAX];
    char why[1024];
    dio_descriptor_verdict verdict;
    dio_status st = DIO_ERR_BAD_FORMAT;
    dio_plugin_record *r;
    void *handle = NULL;
    dio_plugin_entry_fn entry;
    const dio_plugin_descriptor *d = NULL;
    dio_host_info info;
    const char *use_path = realpath(path, resolved) ? resolved : path;

    if (already_seen(ctx, use_path)) return DIO_OK;
    r = record_push(ctx, use_path);
    if (!r) return dio_set_error(DIO_ERR_OUT_OF_HOST_MEMORY, "out of memory loading plugin %s", path);
    why[0] = 0;

    dlerror();
    handle = dlopen(use_path, RTLD_NOW | RTLD_LOCAL);
    if (!handle) {
        const char *e = dlerror();
        snprintf(why, sizeof(why), "cannot be loaded: %s", e ? e : "unknown dlopen error");
        st = DIO_ERR_IO;
        goto refuse;
    }
    *(void **)&entry = dlsym(handle, DIO_PLUGIN_ENTRY_NAME);
    if (!entry) {
        snprintf(why, sizeof(why), "no entry symbol %s (not a diorama plugin)", DIO_PLUGIN_ENTRY_NAME);
        goto refuse;
    }
    memset(&info, 0, sizeof(info));
    info.struct_size = sizeof(info);
    info.abi_min = DIO_ABI_VERSION_MIN;
    info.abi_max = DIO_ABI_VERSION;
    info.services = dio_host_services_get();
    info.plugin_path = use_path;
    dio_clear_error();
    st = entry(&info, &d);
    if (st != DIO_OK) {
        snprintf(why, sizeof(why), "its entry refused to load (%s): %s", dio_status_name(st),
                 dio_last_error());
        if (st != DIO_ERR_ABI_MISMATCH) st = DIO_ERR_BAD_FORMAT;
        goto refuse;
    }
    dio_plugin_check_descriptor(d, DIO_ABI_VERSION_MIN, DIO_ABI_VERSION, &verdict);
    if (verdict.header_readable) {
        /* Recorded even when refused, so `diorama plugins` can show what the file claimed to be. */
        r->kind = (int32_t)d->kind;
        r->abi_min = d->abi_min;
        r->abi_max = d->abi_max;
        r->name = dup_or_null(dio_plugin_name_valid(d->name) ? d->name : NULL);
    }
    if (verdict.status != DIO_OK) {
        snprintf(why, sizeof(why), "%s", verdict.why);
        st = verdict.status;
        goto refuse;
    }
    r->abi_agreed = verdict.abi_agreed;
    if (!r->name) { /* the name is valid, so its copy failed */
        snprintf(why, sizeof(why), "out of memory recording it");
        st = DIO_ERR_OUT_OF_HOST_MEMORY;
        goto refuse;
    }
    {
        const dio_plugin_record *dup = find_accepted(ctx, r->kind, d->name);
        if (dup) {
            snprintf(why, sizeof(why), "duplicate: a %s named \"%s\" was already loaded from %s",
                     kind_name(r->kind), d->name, dup->path);
            st = DIO_ERR_INVALID_ARGUMENT;
            goto refuse;
        }
    }
    r->version = dup_or_null(d->version);
    r->license = dup_or_null(d->license);
    r->description = dup_or_null(d->description);
    if ((d->version && !r->version) || (d->license && !r->license) || (d->description && !r->description)) {
        snprintf(why, sizeof(why), "out of memory recording it");
        st = DIO_ERR_OUT_OF_HOST_MEMORY;
        goto refuse;
    }
    /* An accepted plugin stays mapped until the process exits, even after dio_context_destroy: its
     * worker threads (OpenMP, oneDNN, a GPU runtime) can outlive the last object it made, and
     * unmapping code under live threads crashes. Re-opening with RTLD_NODELETE pins it; the context
     * still drops its own reference. */
    {
        void *pin = dlopen(use_path, RTLD_NOW | RTLD_NOLOAD | RTLD_NODELETE);
        if (pin) dlclose(pin);
    }
    r->handle = handle;
    r->descriptor = d;
    dio_log(DIO_LOG_INFO, "loader", "loaded %s %s %s from %s (ABI [%u.%u, %u.%u], agreed %u.%u)",
            kind_name(r->kind), r->name, r->version ? r->version : "", use_path, DIO_ABI_MAJOR(r->abi_min),
            DIO_ABI_MINOR(r->abi_min), DIO_ABI_MAJOR(r->abi_max), DIO_ABI_MINOR(r->abi_max),
            DIO_ABI_MAJOR(r->abi_agreed), DIO_ABI_MINOR(r->abi_agreed));
    return DIO_OK;

refuse:
    r->refusal = strdup(why[0] ? why : "refused");
    r->abi_agreed = 0;
    if (!r->refusal) { /* a record without a refusal reads as accepted: drop it (it is the last one) */
        record_free(r);
        ctx->n_records--;
    }
    if (handle) dlclose(handle);
    dio_log(DIO_LOG_INFO, "loader", "refused %s: %s", use_path, why);
    return dio_set_error(st, "plugin %s refused: %s", use_path, why);
}

static int is_plugin_file_name(const char *name)
{
    size_t n = strlen(name);
    return strncmp(name, "libdio_", 7) == 0 && n > 10 && strcmp(name + n - 3, ".so") == 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Loads every candidate in a directory, sorted by name. A missing directory is not an error. */
static dio_status load_dir(dio_context *ctx, const char *dir)
{
    DIR *dp = opendir(dir);
    struct dirent *e;
    char **names = NULL;
    size_t n = 0, cap = 0;
    dio_status st = DIO_OK;
    if (!dp) {
        dio_log(DIO_LOG_DEBUG, "loader", "plugin directory %s: %s", dir, strerror(errno));
        return DIO_OK;
    }
    while ((e = readdir(dp)) != NULL) {
        if (!is_plugin_file_name(e->d_name)) continue;
        if (n == cap) {
            size_t c = cap ? cap * 2 : 16;
            char **g = realloc(names, c * sizeof(*g));
            if (!g) goto oom;
            names = g;
            cap = c;
        }
        if (!(names[n] = strdup(e->d_name))) goto oom;
        n++;
    }
    if (n) qsort(names, n, sizeof(*names), cmp_str);
    for (size_t i = 0; i < n; i++) {
        char path[PATH_MAX];
        if (snprintf(path, sizeof(path), "%s/%s", dir, names[i]) >= (int)sizeof(path)) continue;
        (void)load_file(ctx, path); /* refusals are recorded; a scan never fails on them */
    }
    goto done;
oom:
    st = dio_set_error(DIO_ERR_OUT_OF_HOST_MEMORY, "out of memory scanning %s", dir);
done:
    for (size_t i = 0; i < n; i++) free(names[i]);
    free(names);
    closedir(dp);
    return st;
}

static void load_path_list(dio_context *ctx, const char *list)
{
    char *copy = strdup(list), *save = NULL;
    if (!copy) return;
    for (char *tok = strtok_r(copy, ":", &save); tok; tok = strtok_r(NULL, ":", &save))
        if (tok[0]) (void)load_dir(ctx, tok);
    free(copy);
}

static void load_default_dirs(dio_context *ctx)
{
    char exe[PATH_MAX], dir[PATH_MAX + 32];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    if (n > 0) {
        char *slash;
        exe[n] = 0;
        slash = strrchr(exe, '/');
        if (slash) {
            *slash = 0;
            (void)load_dir(ctx, exe);
            snprintf(dir, sizeof(dir), "%s/../lib/diorama", exe);
            (void)load_dir(ctx, dir);
        }
    }
    {
        /* Beside libdiorama itself (<libdir>/diorama), wherever the library was installed to. */
        Dl_info dl;
        if (dladdr((void *)&dio_context_create, &dl) && dl.dli_fname) {
            char lib[PATH_MAX];
            char *slash;
            snprintf(lib, sizeof(lib), "%s", dl.dli_fname);
            slash = strrchr(lib, '/');
            if (slash) {
                *slash = 0;
                snprintf(dir, sizeof(dir), "%s/diorama", lib);
                (void)load_dir(ctx, dir);
            }
        }
    }
    (void)load_dir(ctx, DIO_INSTALL_PLUGIN_DIR);
}

dio_status dio_context_create(const dio_context_options *options, dio_context **out)
{
    dio_context *ctx;
    dio_context_options opt;
    const char *env;
    if (!out) return dio_set_error(DIO_ERR_INVALID_ARGUMENT, "dio_context_create: out is NULL");
    memset(&opt, 0, sizeof(opt));
    if (options)
        memcpy(&opt, options, options->struct_size < sizeof(opt) ? options->struct_size : sizeof(opt));
    ctx = calloc(1, sizeof(*ctx));
    if (!ctx) return dio_set_error(DIO_ERR_OUT_OF_HOST_MEMORY, "out of memory creating a context");
    atomic_init(&ctx->live_objects, 0);
    for (size_t i = 0; i < opt.n_plugin_dirs && opt.plugin_dirs; i++)
        if (opt.plugin_dirs[i]) (void)load_dir(ctx, opt.plugin_dirs[i]);
    if (!opt.no_env && (env = getenv("DIORAMA_PLUGIN_PATH")) != NULL) load_path_list(ctx, env);
    if (!opt.no_default_dirs) load_default_dirs(ctx);
    dio_clear_error();
    *out = ctx;
    return DIO_OK;
}

void dio_context_destroy(dio_context *ctx)
{
    int live;
    if (!ctx) return;
    live = atomic_load(&ctx->live_objects);
    if (live > 0)
        dio_log(DIO_LOG_ERROR, "loader",
                "context destroyed with %d live objects: their plugins stay loaded (a leak, not a crash)",
                live);
    for (int32_t i = 0; i < ctx->n_records; i++) {
        if (ctx->records[i].handle && live == 0) dlclose(ctx->records[i].handle);
        record_free(&ctx->records[i]);
    }
    free(ctx->records);
    free(ctx);
}

dio_status dio_context_load(dio_context *ctx, const char *path)
{
    struct stat sb;
    if (!ctx || !path) return dio_set_error(DIO_ERR_INVALID_ARGUMENT, "dio_context_load: NULL argument");
    if (stat(path, &sb) != 0) return dio_set_error(DIO_ERR_IO, "plugin path %s: %s", path, strerror(errno));
    if (S_ISDIR(sb.st_mode)) return load_dir(ctx, path);
    return load_file(ctx, path);
}

int32_t dio_context_plugin_count(const dio_context *ctx)
{
    return ctx ? ctx->n_records : 0;
}

dio_status dio_context_plugin_at(const dio_context *ctx, int32_t index, dio_plugin_info *out)
{
    dio_plugin_info info;
    const dio_plugin_record *r;
    if (!ctx || !out || index < 0 || index >= ctx->n_records)
        return dio_set_error(DIO_ERR_INVALID_ARGUMENT, "dio_context_plugin_at: bad argument or index %d",
                             index);
    r = &ctx->records[index];
    memset(&info, 0, sizeof(info));
    info.struct_size = sizeof(info);
    info.accepted = r->refusal ? 0 : 1;
    info.kind = r->kind;
    info.abi_min = r->abi_min;
    info.abi_max = r->abi_max;
    info.abi_agreed = r->abi_agreed;
    info.path = r->path;
    info.name = r->name;
    info.version = r->version;
    info.license = r->license;
    info.description = r->description;
    info.refusal = r->refusal;
    info.descriptor = r->descriptor;
    {
        uint32_t n =
            out->struct_size && out->struct_size < sizeof(info) ? out->struct_size : (uint32_t)sizeof(info);
        memcpy(out, &info, n);
        out->struct_size = n;
    }
    return DIO_OK;
}

dio_status dio_context_find(const dio_context *ctx, dio_plugin_kind kind, const char *name,
                            const dio_plugin_descriptor **out)
{
    const dio_plugin_record *r;
    char known[512], refused[1024];
    size_t kn = 0, rn = 0;
    if (!ctx || !name || !out)
        return dio_set_error(DIO_ERR_INVALID_ARGUMENT, "dio_context_find: NULL argument");
    r = find_accepted(ctx, (int32_t)kind, name);
    if (r) {
        *out = r->descriptor;
        return DIO_OK;
    }
    known[0] = refused[0] = 0;
    for (int32_t i = 0; i < ctx->n_records; i++) {
        const dio_plugin_record *x = &ctx->records[i];
        if (x->descriptor && x->kind == (int32_t)kind && kn < sizeof(known))
            kn += (size_t)snprintf(known + kn, sizeof(known) - kn, "%s%s", kn ? ", " : "", x->name);
        else if (x->refusal && ((x->name && strcmp(x->name, name) == 0) || strstr(x->path, name)) &&
                 rn < sizeof(refused))
            rn += (size_t)snprintf(refused + rn, sizeof(refused) - rn, "; %s was refused: %s", x->path,
                                   x->refusal);
    }
    return dio_set_error(DIO_ERR_NOT_SUPPORTED, "no %s plugin named \"%s\" (available: %s)%s",
                         kind_name((int32_t)kind), name, kn ? known : "none", refused);
}
