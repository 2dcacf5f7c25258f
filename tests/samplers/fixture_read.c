/* Test helper: see fixture_read.h. The whole file is read into memory (fixtures are small); every
 * tensor's offsets are checked against the data size before use. */
#include "fixture_read.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct fixture {
    unsigned char *bytes;
    size_t size, data_off;
    cJSON *header;
    char path[1024];
};

fixture *fixture_open(const char *path)
{
    fixture *f = calloc(1, sizeof(*f));
    FILE *fp = NULL;
    long sz;
    uint64_t hlen = 0;
    char *hjson = NULL;
    if (!f) goto fail;
    snprintf(f->path, sizeof(f->path), "%s", path);
    if (!(fp = fopen(path, "rb")) || fseek(fp, 0, SEEK_END) || (sz = ftell(fp)) < 8 ||
        fseek(fp, 0, SEEK_SET)) {
        printf("fixture %s: cannot read\n", path);
        goto fail;
    }
    f->size = (size_t)sz;
    if (!(f->bytes = malloc(f->size)) || fread(f->bytes, 1, f->size, fp) != f->size) {
        printf("fixture %s: short read\n", path);
        goto fail;
    }
    for (int i = 7; i >= 0; i--) hlen = hlen << 8 | f->bytes[i];
    if (hlen > f->size - 8 || !(hjson = malloc((size_t)hlen + 1))) {
        printf("fixture %s: bad header length\n", path);
        goto fail;
    }
    memcpy(hjson, f->bytes + 8, (size_t)hlen);
    hjson[hlen] = 0;
    f->header = cJSON_Parse(hjson);
    free(hjson);
    hjson = NULL;
    if (!f->header) {
        printf("fixture %s: header is not JSON\n", path);
        goto fail;
    }
    f->data_off = 8 + (size_t)hlen;
    fclose(fp);
    return f;
fail:
    if (fp) fclose(fp);
    free(hjson);
    fixture_close(f);
    return NULL;
}

void fixture_close(fixture *f)
{
    if (!f) return;
    cJSON_Delete(f->header);
    free(f->bytes);
    free(f);
}

static size_t dtype_size(const char *d)
{
    if (!strcmp(d, "F64") || !strcmp(d, "I64")) return 8;
    if (!strcmp(d, "F32") || !strcmp(d, "I32")) return 4;
    if (!strcmp(d, "F16") || !strcmp(d, "BF16")) return 2;
    return 1;
}

const void *fixture_raw(const fixture *f, const char *name, const char **dtype, size_t *count)
{
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(f->header, name), *dt, *shape, *offs, *d;
    size_t n = 1, b, e;
    if (!t) return NULL;
    dt = cJSON_GetObjectItemCaseSensitive(t, "dtype");
    shape = cJSON_GetObjectItemCaseSensitive(t, "shape");
    offs = cJSON_GetObjectItemCaseSensitive(t, "data_offsets");
    if (!cJSON_IsString(dt) || !cJSON_IsArray(shape) || !cJSON_IsArray(offs) || cJSON_GetArraySize(offs) != 2)
        return NULL;
    cJSON_ArrayForEach(d, shape) n *= (size_t)d->valuedouble;
    b = (size_t)cJSON_GetArrayItem(offs, 0)->valuedouble;
    e = (size_t)cJSON_GetArrayItem(offs, 1)->valuedouble;
    if (e < b || e - b != n * dtype_size(dt->valuestring) || f->data_off + e > f->size) {
        printf("fixture %s: tensor %s has bad offsets\n", f->path, name);
        return NULL;
    }
    if (dtype) *dtype = dt->valuestring;
    if (count) *count = n;
    return f->bytes + f->data_off + b;
}

double *fixture_f64(const fixture *f, const char *name, size_t *count)
{
    const char *dt = NULL;
    size_t n = 0;
    const unsigned char *p = fixture_raw(f, name, &dt, &n);
    double *out;
    if (!p) {
        printf("fixture %s: no tensor %s\n", f->path, name);
        return NULL;
    }
    if (!(out = malloc(sizeof(double) * (n ? n : 1)))) return NULL;
    for (size_t i = 0; i < n; i++) {
        if (!strcmp(dt, "F64")) {
            memcpy(&out[i], p + 8 * i, 8);
        } else if (!strcmp(dt, "F32")) {
            float v;
            memcpy(&v, p + 4 * i, 4);
            out[i] = v;
        } else if (!strcmp(dt, "I64")) {
            int64_t v;
            memcpy(&v, p + 8 * i, 8);
            out[i] = (double)v;
        } else {
            printf("fixture %s: tensor %s is %s, not F64/F32/I64\n", f->path, name, dt);
            free(out);
            return NULL;
        }
    }
    if (count) *count = n;
    return out;
}
