/* libdiorama — the descriptor check the loader runs on what a plugin's entry returned (plugin_check.h).
 *
 * A descriptor comes from code we did not write, so nothing is read that its struct_size does not
 * cover: first the header (kind, ABI range, name), then — once the size reaches ABI 1.0 — the kind's
 * table, whose own struct_size is checked before its slots are. Every refusal names its reason in the
 * words `diorama plugins` prints. Kept apart from dlopen so the fuzz harness can drive it directly. */
#include <stdio.h>
#include <string.h>

#include "plugin_check.h"

/* The smallest tables ABI 1.0 allows (everything up to the last 1.0 field). */
#define DIO_DESCRIPTOR_SIZE_1_0 (offsetof(dio_plugin_descriptor, sampler) + sizeof(void *))
#define DIO_BACKEND_IFACE_SIZE_1_0 (offsetof(dio_backend_iface, ops) + sizeof(void *))
#define DIO_COMPONENT_IFACE_SIZE_1_0 (offsetof(dio_component_iface, run) + sizeof(void *))
#define DIO_SAMPLER_IFACE_SIZE_1_0 (offsetof(dio_sampler_iface, step) + sizeof(void *))

int dio_plugin_name_valid(const char *s)
{
    size_t n = 0;
    if (!s || !s[0]) return 0;
    for (; s[n]; n++) {
        char c = s[n];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-' || c == '.')) return 0;
        if (n >= 63) return 0;
    }
    return 1;
}

/* Checks the table of the descriptor's kind; writes the reason into why on failure. */
static int check_kind_table(const dio_plugin_descriptor *d, uint32_t dsize, char *why, size_t n)
{
#define FIELD_FITS(field) (dsize >= offsetof(dio_plugin_descriptor, field) + sizeof(void *))
    switch (d->kind) {
    case DIO_PLUGIN_BACKEND: {
        const dio_backend_iface *b = FIELD_FITS(backend) ? d->backend : NULL;
        if (!b) return snprintf(why, n, "bad descriptor: kind backend without a backend table"), 0;
        if (b->struct_size < DIO_BACKEND_IFACE_SIZE_1_0)
            return snprintf(why, n,
                            "bad descriptor: backend table struct_size %u is smaller than the %zu bytes of "
                            "ABI 1.0",
                            b->struct_size, (size_t)DIO_BACKEND_IFACE_SIZE_1_0),
                   0;
        if (!b->create || !b->destroy || !b->device_count || !b->device_props || !b->buffer_alloc ||
            !b->buffer_from_host || !b->buffer_free || !b->buffer_size || !b->buffer_device ||
            !b->buffer_host_ptr || !b->buffer_upload || !b->buffer_download || !b->buffer_copy ||
            !b->stream_create || !b->stream_destroy || !b->stream_sync || !b->supports_op || !b->ops)
            return snprintf(why, n, "bad descriptor: the backend table leaves a required function NULL"), 0;
        return 1;
    }
    case DIO_PLUGIN_COMPONENT: {
        const dio_component_iface *c = FIELD_FITS(component) ? d->component : NULL;
        if (!c) return snprintf(why, n, "bad descriptor: kind component without a component table"), 0;
        if (c->struct_size < DIO_COMPONENT_IFACE_SIZE_1_0)
            return snprintf(why, n,
                            "bad descriptor: component table struct_size %u is smaller than the %zu bytes of "
                            "ABI 1.0",
                            c->struct_size, (size_t)DIO_COMPONENT_IFACE_SIZE_1_0),
                   0;
        if (!c->create || !c->destroy || !c->output_shapes || !c->run || c->n_inputs < 0 ||
            c->n_outputs < 0 || c->n_params < 0 || (c->n_inputs && !c->inputs) ||
            (c->n_outputs && !c->outputs) || (c->n_params && !c->params))
            return snprintf(why, n,
                            "bad descriptor: the component table is incomplete (NULL function or port list)"),
                   0;
        return 1;
    }
    case DIO_PLUGIN_SAMPLER: {
        const dio_sampler_iface *s = FIELD_FITS(sampler) ? d->sampler : NULL;
        if (!s) return snprintf(why, n, "bad descriptor: kind sampler without a sampler table"), 0;
        if (s->struct_size < DIO_SAMPLER_IFACE_SIZE_1_0)
            return snprintf(why, n,
                            "bad descriptor: sampler table struct_size %u is smaller than the %zu bytes of "
                            "ABI 1.0",
                            s->struct_size, (size_t)DIO_SAMPLER_IFACE_SIZE_1_0),
                   0;
        if (!s->create || !s->destroy || !s->num_steps || !s->schedule || !s->step || s->n_params < 0 ||
            (s->n_params && !s->params))
            return snprintf(why, n, "bad descriptor: the sampler table is incomplete"), 0;
        return 1;
    }
    default: return snprintf(why, n, "bad descriptor: unknown plugin kind %u", d->kind), 0;
    }
#undef FIELD_FITS
}

static void format_range(char *buf, size_t n, uint32_t lo, uint32_t hi)
{
    snprintf(buf, n, "[%u.%u, %u.%u]", DIO_ABI_MAJOR(lo), DIO_ABI_MINOR(lo), DIO_ABI_MAJOR(hi),
             DIO_ABI_MINOR(hi));
}

void dio_plugin_check_descriptor(const dio_plugin_descriptor *d, uint32_t host_min, uint32_t host_max,
                                 dio_descriptor_verdict *v)
{
    char host_range[48], plugin_range[48];
    uint32_t dsize;

    memset(v, 0, sizeof(*v));
    v->status = DIO_ERR_BAD_FORMAT;
    if (!d) {
        snprintf(v->why, sizeof(v->why), "bad descriptor: the entry returned OK but no descriptor");
        return;
    }
    dsize = d->struct_size;
    if (dsize < offsetof(dio_plugin_descriptor, name) + sizeof(void *)) {
        snprintf(v->why, sizeof(v->why), "bad descriptor: struct_size %u is too small to hold a name", dsize);
        return;
    }
    v->header_readable = 1;
    format_range(host_range, sizeof(host_range), host_min, host_max);
    format_range(plugin_range, sizeof(plugin_range), d->abi_min, d->abi_max);
    if (d->abi_min > d->abi_max) {
        snprintf(v->why, sizeof(v->why), "bad descriptor: ABI range %s is empty", plugin_range);
        return;
    }
    if (!dio_abi_negotiate(host_min, host_max, d->abi_min, d->abi_max, &v->abi_agreed)) {
        snprintf(v->why, sizeof(v->why), "ABI mismatch: the plugin speaks %s, this host speaks %s",
                 plugin_range, host_range);
        v->abi_agreed = 0;
        v->status = DIO_ERR_ABI_MISMATCH;
        return;
    }
    if (dsize < DIO_DESCRIPTOR_SIZE_1_0) {
        /* Every 1.0 field is needed to know the kind's table; a smaller one is malformed, not older. */
        snprintf(v->why, sizeof(v->why),
                 "bad descriptor: struct_size %u is smaller than the %zu bytes of ABI 1.0", dsize,
                 (size_t)DIO_DESCRIPTOR_SIZE_1_0);
        goto refused;
    }
    if (!dio_plugin_name_valid(d->name)) {
        /* The name is not printed whole: it may be long or not text at all. */
        snprintf(v->why, sizeof(v->why), "bad descriptor: name \"%.63s\" is not [a-z0-9_.-]{1,63}",
                 d->name ? d->name : "(null)");
        goto refused;
    }
    if (!check_kind_table(d, dsize, v->why, sizeof(v->why))) goto refused;
    v->status = DIO_OK;
    return;

refused:
    v->abi_agreed = 0;
}
