/* libdiorama internals — PyTorch checkpoints (torch.save zip files), shared by the zip reader
 * (pt_zip.c), the restricted unpickler (pt_pickle.c) and the weights table (safetensors.c).
 *
 * The weights table owns the mapping; the pt code only reads it and hands each tensor it finds to a
 * sink, which copies the name. Tensor data points into the mapping, except for a non-contiguous
 * tensor, which is gathered into a malloc'd buffer (`owned`) that the sink takes over. */
#ifndef DIO_PT_INTERNAL_H
#define DIO_PT_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "diorama/diorama.h"

/* A name in a message, cut to 200 bytes so a hostile name cannot flood the message. */
#define PT_NM "'%.200s'"

/* ---- the zip container (pt_zip.c) ---- */

typedef struct pt_zip_entry {
    char *name;           /* NUL-terminated copy, no NUL inside */
    uint64_t data_offset; /* of the stored bytes, in the file */
    uint64_t size;
    uint32_t crc32;
} pt_zip_entry;

typedef struct pt_zip {
    pt_zip_entry *entries; /* sorted by name, no name twice */
    size_t n;
} pt_zip;

/* What a file's first bytes say it is. */
enum { PT_SNIFF_OTHER = 0, PT_SNIFF_ZIP = 1, PT_SNIFF_LEGACY = 2 };
int pt_sniff(const unsigned char *base, uint64_t size);

/* Reads the central directory of the zip file mapped at base[0..size) and checks every entry (stored,
 * inside the file, name bounded and unique). BAD_FORMAT naming `path` otherwise; *out is untouched on
 * failure. Free with pt_zip_free. */
dio_status pt_zip_read(const char *path, const unsigned char *base, uint64_t size, pt_zip *out);
const pt_zip_entry *pt_zip_find(const pt_zip *zip, const char *name);
void pt_zip_free(pt_zip *zip);
uint32_t pt_crc32(const unsigned char *data, size_t n);

/* ---- the checkpoint (pt_pickle.c) ---- */

typedef struct pt_tensor {
    const char *name; /* dotted path; valid during the call only */
    int32_t dtype;    /* dio_dtype */
    int32_t ndim;
    int64_t shape[DIO_MAX_DIMS];
    const void *data;     /* into the mapping, or `owned` */
    uint64_t nbytes;      /* numel x element size */
    uint64_t file_offset; /* of data in the file; 0 for an owned copy */
    void *owned;          /* malloc'd gathered copy, or NULL; the sink takes it over, whatever it returns */
} pt_tensor;

typedef struct pt_sink {
    void *ctx;
    dio_status (*tensor)(void *ctx, const pt_tensor *t);
    /* Plain values (str, int, float, bool, None) under their dotted path, as text; NULL to skip them. */
    dio_status (*meta)(void *ctx, const char *key, const char *value);
} pt_sink;

/* Reads the torch.save checkpoint mapped at base[0..size): the zip, then <archive>/data.pkl through the
 * restricted unpickler, then every tensor of the (nested) dict to the sink, in file order. BAD_FORMAT
 * naming `path` and the opcode, global or tensor otherwise. */
dio_status pt_load(const char *path, const unsigned char *base, uint64_t size, const pt_sink *sink);

/* ---- shared with safetensors.c ---- */

/* 1 when s[0..n) is valid UTF-8 without NUL; else 0 and *bad (when not NULL) is the byte offset. */
int dio_utf8_valid(const unsigned char *s, size_t n, size_t *bad);

#endif
