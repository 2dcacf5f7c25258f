/* diorama — the zip container of PyTorch checkpoints (torch.save, zip format since torch 1.6).
 *
 * Reads the central directory of a file that is already mapped and lists its entries; nothing is
 * decompressed and nothing is copied but the names. Written from the zip specification (PKWARE
 * APPNOTE), for what torch's writer produces.
 *
 * Design choices:
 * - The end-of-central-directory record is searched backwards over the last 64 KiB + 22 bytes and must
 *   end exactly at the end of the file (its comment included). When a zip64 locator sits right before
 *   it (torch always writes one; files over 4 GB need it), the zip64 record's counts and offsets are
 *   used. Single-disk archives only.
 * - Only STORED entries (method 0, sizes equal) are accepted: torch writes every record stored and
 *   64-byte aligned, so each tensor can be used in place. A compressed or encrypted entry is refused
 *   naming it. Sizes and offsets come from the central directory (torch's local headers say 0 and
 *   defer to a data descriptor); 0xFFFFFFFF values are taken from the zip64 extra field.
 * - Every offset and size is checked against the file before use: the central directory lies before
 *   the end records, each local header and its data lie before the central directory, and the local
 *   name repeats the central one. Names are 1..4096 bytes without NUL; no name appears twice; at most
 *   2^20 entries. CRCs are recorded, not checked here (the caller checks the small records it reads;
 *   checking gigabytes of tensors would read the whole file at open).
 * - Little-endian fields are read byte by byte, so the host's alignment and byte order do not matter
 *   here. Errors name the file and the entry; one cleanup path per function. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pt_internal.h"

#define PZ_MAX_NAME 4096u
#define PZ_MAX_ENTRIES ((uint64_t)1 << 20)
#define PZ_EOCD_SIZE 22u
#define PZ_EOCD64_SIZE 56u
#define PZ_LOCATOR_SIZE 20u
#define PZ_CENTRAL_SIZE 46u
#define PZ_LOCAL_SIZE 30u
#define PZ_SIG_LOCAL 0x04034b50u
#define PZ_SIG_CENTRAL 0x02014b50u
#define PZ_SIG_EOCD 0x06054b50u
#define PZ_SIG_EOCD64 0x06064b50u
#define PZ_SIG_LOCATOR 0x07064b50u

static uint16_t rd16(const unsigned char *p)
{
    return (uint16_t)(p[0] | (p[1] << 8));
}

static uint32_t rd32(const unsigned char *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

static uint64_t rd64(const unsigned char *p)
{
    return (uint64_t)rd32(p) | ((uint64_t)rd32(p + 4) << 32);
}

/* The legacy (pre-1.6) format starts with a pickled magic number: PROTO 2, LONG1 of 10 bytes. */
static const unsigned char k_legacy_magic[] = {0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c,
                                               0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19};

int pt_sniff(const unsigned char *base, uint64_t size)
{
    if (size >= 4 && rd32(base) == PZ_SIG_LOCAL) return PT_SNIFF_ZIP;
    if (size >= sizeof k_legacy_magic && memcmp(base, k_legacy_magic, sizeof k_legacy_magic) == 0)
        return PT_SNIFF_LEGACY;
    return PT_SNIFF_OTHER;
}

uint32_t pt_crc32(const unsigned char *data, size_t n)
{
    uint32_t table[256];
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++) c = (c & 1) ? 0xedb88320u ^ (c >> 1) : c >> 1;
        table[i] = c;
    }
    uint32_t crc = 0xffffffffu;
    for (size_t i = 0; i < n; i++) crc = table[(crc ^ data[i]) & 0xff] ^ (crc >> 8);
    return crc ^ 0xffffffffu;
}

static int pz_cmp_entry(const void *a, const void *b)
{
    return strcmp(((const pt_zip_entry *)a)->name, ((const pt_zip_entry *)b)->name);
}

static int pz_key_cmp(const void *key, const void *elem)
{
    return strcmp((const char *)key, ((const pt_zip_entry *)elem)->name);
}

void pt_zip_free(pt_zip *zip)
{
    if (!zip) return;
    for (size_t i = 0; i < zip->n; i++) free(zip->entries[i].name);
    free(zip->entries);
    zip->entries = NULL;
    zip->n = 0;
}

const pt_zip_entry *pt_zip_find(const pt_zip *zip, const char *name)
{
    if (!zip || !name || zip->n == 0) return NULL;
    return bsearch(name, zip->entries, zip->n, sizeof *zip->entries, pz_key_cmp);
}

/* The end records: where the central directory is and how many entries it holds. `limit` is where
 * the end records begin (the central directory must end before it). */
static dio_status pz_find_directory(const char *path, const unsigned char *base, uint64_t size,
                                    uint64_t *cd_offset, uint64_t *cd_size, uint64_t *count, uint64_t *limit)
{
    dio_status st = DIO_OK;
    uint64_t eocd = UINT64_MAX, lowest;

    if (size < PZ_EOCD_SIZE) {
        st = dio_set_error(DIO_ERR_BAD_FORMAT,
                           "checkpoint '%s' is %" PRIu64 " bytes, too short for a zip file (truncated?)",
                           path, size);
        goto fail;
    }
    lowest = size - PZ_EOCD_SIZE > 0xffffu ? size - PZ_EOCD_SIZE - 0xffffu : 0;
    for (uint64_t pos = size - PZ_EOCD_SIZE + 1; pos-- > lowest;) {
        if (rd32(base + pos) == PZ_SIG_EOCD && pos + PZ_EOCD_SIZE + rd16(base + pos + 20) == size) {
            eocd = pos;
            break;
        }
    }
    if (eocd == UINT64_MAX) {
        st = dio_set_error(DIO_ERR_BAD_FORMAT,
                           "checkpoint '%s': no zip end-of-central-directory record at the end of the file "
                           "(truncated?)",
                           path);
        goto fail;
    }
    const unsigned char *e = base + eocd;
    if (rd16(e + 4) != 0 || rd16(e + 6) != 0 || rd16(e + 8) != rd16(e + 10)) {
        st = dio_set_error(DIO_ERR_BAD_FORMAT, "checkpoint '%s': a multi-disk zip archive is not supported",
                           path);
        goto fail;
    }
    *count = rd16(e + 10);
    *cd_size = rd32(e + 12);
    *cd_offset = rd32(e + 16);
    *limit = eocd;

    if (eocd >= PZ_LOCATOR_SIZE && rd32(base + eocd - PZ_LOCATOR_SIZE) == PZ_SIG_LOCATOR) {
        const unsigned char *l = base + eocd - PZ_LOCATOR_SIZE;
        uint64_t at = rd64(l + 8);
        if (rd32(l + 4) != 0 || rd32(l + 16) > 1) {
            st = dio_set_error(DIO_ERR_BAD_FORMAT,
                               "checkpoint '%s': a multi-disk zip64 archive is not supported", path);
            goto fail;
        }
        if (at > eocd - PZ_LOCATOR_SIZE || eocd - PZ_LOCATOR_SIZE - at < PZ_EOCD64_SIZE ||
            rd32(base + at) != PZ_SIG_EOCD64) {
            st = dio_set_error(DIO_ERR_BAD_FORMAT,
                               "checkpoint '%s': the zip64 locator points to offset %" PRIu64
                               ", where no zip64 end record is",
                               path, at);
            goto fail;
        }
        const unsigned char *z = base + at;
        if (rd32(z + 16) != 0 || rd32(z + 20) != 0 || rd64(z + 24) != rd64(z + 32)) {
            st = dio_set_error(DIO_ERR_BAD_FORMAT,
                               "checkpoint '%s': a multi-disk zip64 archive is not supported", path);
            goto fail;
        }
        *count = rd64(z + 32);
        *cd_size = rd64(z + 40);
        *cd_offset = rd64(z + 48);
        *limit = at;
    } else if (*count == 0xffffu || *cd_size == 0xffffffffu || *cd_offset == 0xffffffffu) {
        st = dio_set_error(DIO_ERR_BAD_FORMAT,
                           "checkpoint '%s': the zip end record defers to a zip64 record that is not there",
                           path);
        goto fail;
    }
    if (*cd_offset > *limit || *cd_size > *limit - *cd_offset) {
        st = dio_set_error(DIO_ERR_BAD_FORMAT,
                           "checkpoint '%s': the zip central directory [%" PRIu64 ", +%" PRIu64
                           ") runs past its end records at %" PRIu64 " (truncated?)",
                           path, *cd_offset, *cd_size, *limit);
        goto fail;
    }
    if (*count > PZ_MAX_ENTRIES || *count > *cd_size / PZ_CENTRAL_SIZE) {
        st =
            dio_set_error(DIO_ERR_BAD_FORMAT,
                          "checkpoint '%s': the zip says it holds %" PRIu64 " entries, more than its %" PRIu64
                          "-byte central directory (or the limit of %" PRIu64 ") allows",
                          path, *count, *cd_size, PZ_MAX_ENTRIES);
        goto fail;
    }
    return DIO_OK;
fail:
    return st;
}

/* Reads the zip64 extra field of a central entry for the values marked 0xFFFFFFFF. */
static dio_status pz_zip64_extra(const char *path, const char *name, const unsigned char *extra,
                                 uint32_t extra_len, uint64_t *usize, uint64_t *csize, uint64_t *local,
                                 int need_u, int need_c, int need_l)
{
    dio_status st = DIO_OK;
    uint32_t pos = 0;
    while (pos + 4 <= extra_len) {
        uint16_t id = rd16(extra + pos), len = rd16(extra + pos + 2);
        if (len > extra_len - pos - 4) break;
        if (id == 0x0001) {
            const unsigned char *f = extra + pos + 4;
            uint32_t need = 8u * (uint32_t)(need_u + need_c + need_l), at = 0;
            if (len < need) {
                st = dio_set_error(DIO_ERR_BAD_FORMAT,
                                   "checkpoint '%s': zip entry " PT_NM
                                   " has a zip64 field of %u bytes, too short for its sizes",
                                   path, name, (unsigned)len);
                goto fail;
            }
            if (need_u) {
                *usize = rd64(f + at);
                at += 8;
            }
            if (need_c) {
                *csize = rd64(f + at);
                at += 8;
            }
            if (need_l) *local = rd64(f + at);
            return DIO_OK;
        }
        pos += 4u + len;
    }
    st = dio_set_error(DIO_ERR_BAD_FORMAT,
                       "checkpoint '%s': zip entry " PT_NM " defers its sizes to a zip64 field it lacks",
                       path, name);
fail:
    return st;
}

dio_status pt_zip_read(const char *path, const unsigned char *base, uint64_t size, pt_zip *out)
{
    dio_status st = DIO_OK;
    pt_zip zip = {0};
    uint64_t cd_offset = 0, cd_size = 0, count = 0, limit = 0, pos;
    char shown[PZ_MAX_NAME + 1];

    st = pz_find_directory(path, base, size, &cd_offset, &cd_size, &count, &limit);
    if (st != DIO_OK) goto fail;
    if (count == 0) {
        st = dio_set_error(DIO_ERR_BAD_FORMAT, "checkpoint '%s': the zip archive is empty", path);
        goto fail;
    }
    zip.entries = calloc((size_t)count, sizeof *zip.entries);
    if (!zip.entries) {
        st = dio_set_error(DIO_ERR_OUT_OF_HOST_MEMORY,
                           "checkpoint '%s': out of memory for %" PRIu64 " zip entries", path, count);
        goto fail;
    }
    pos = cd_offset;
    for (uint64_t i = 0; i < count; i++) {
        const uint64_t cd_end = cd_offset + cd_size;
        if (cd_end - pos < PZ_CENTRAL_SIZE || rd32(base + pos) != PZ_SIG_CENTRAL) {
            st = dio_set_error(DIO_ERR_BAD_FORMAT,
                               "checkpoint '%s': zip central directory entry %" PRIu64 " at offset %" PRIu64
                               " is missing or damaged",
                               path, i, pos);
            goto fail;
        }
        const unsigned char *c = base + pos;
        uint16_t flags = rd16(c + 8), method = rd16(c + 10), nlen = rd16(c + 28), elen = rd16(c + 30),
                 clen = rd16(c + 32), disk = rd16(c + 34);
        uint32_t crc = rd32(c + 16);
        uint64_t csize = rd32(c + 20), usize = rd32(c + 24), local = rd32(c + 42);
        if ((uint64_t)nlen + elen + clen > cd_end - pos - PZ_CENTRAL_SIZE) {
            st = dio_set_error(
                DIO_ERR_BAD_FORMAT,
                "checkpoint '%s': zip central directory entry %" PRIu64 " runs past the directory", path, i);
            goto fail;
        }
        const unsigned char *name = c + PZ_CENTRAL_SIZE;
        if (nlen == 0 || nlen > PZ_MAX_NAME || memchr(name, 0, nlen)) {
            st = dio_set_error(DIO_ERR_BAD_FORMAT,
                               "checkpoint '%s': zip entry %" PRIu64
                               " has a name of %u bytes that is empty, too long or holds a NUL",
                               path, i, (unsigned)nlen);
            goto fail;
        }
        memcpy(shown, name, nlen);
        shown[nlen] = '\0';
        if (flags & 1u) {
            st = dio_set_error(DIO_ERR_BAD_FORMAT, "checkpoint '%s': zip entry " PT_NM " is encrypted", path,
                               shown);
            goto fail;
        }
        if (method != 0) {
            st = dio_set_error(DIO_ERR_BAD_FORMAT,
                               "checkpoint '%s': zip entry " PT_NM
                               " is compressed (method %u); torch.save stores entries uncompressed, and "
                               "only stored entries are read",
                               path, shown, (unsigned)method);
            goto fail;
        }
        if (usize == 0xffffffffu || csize == 0xffffffffu || local == 0xffffffffu) {
            st = pz_zip64_extra(path, shown, name + nlen, elen, &usize, &csize, &local, usize == 0xffffffffu,
                                csize == 0xffffffffu, local == 0xffffffffu);
            if (st != DIO_OK) goto fail;
        }
        if (disk != 0 && disk != 0xffffu) {
            st = dio_set_error(DIO_ERR_BAD_FORMAT, "checkpoint '%s': zip entry " PT_NM " is on disk %u", path,
                               shown, (unsigned)disk);
            goto fail;
        }
        if (csize != usize) {
            st = dio_set_error(DIO_ERR_BAD_FORMAT,
                               "checkpoint '%s': stored zip entry " PT_NM " says %" PRIu64
                               " bytes stored but %" PRIu64 " bytes long",
                               path, shown, csize, usize);
            goto fail;
        }
        /* The local header, then the data, all before the central directory. */
        if (local > cd_offset || cd_offset - local < PZ_LOCAL_SIZE || rd32(base + local) != PZ_SIG_LOCAL) {
            st = dio_set_error(DIO_ERR_BAD_FORMAT,
                               "checkpoint '%s': zip entry " PT_NM " has no local header at offset %" PRIu64,
                               path, shown, local);
            goto fail;
        }
        const unsigned char *l = base + local;
        uint64_t lnlen = rd16(l + 26), lelen = rd16(l + 28);
        uint64_t data = local + PZ_LOCAL_SIZE + lnlen + lelen;
        if (data > cd_offset || lnlen != nlen || memcmp(l + PZ_LOCAL_SIZE, name, nlen) != 0 ||
            rd16(l + 8) != 0) {
            st = dio_set_error(DIO_ERR_BAD_FORMAT,
                               "checkpoint '%s': the local header of zip entry " PT_NM " at offset %" PRIu64
                               " does not match its directory entry",
                               path, shown, local);
            goto fail;
        }
        if (usize > cd_offset - data) {
            st = dio_set_error(DIO_ERR_BAD_FORMAT,
                               "checkpoint '%s': zip entry " PT_NM " [%" PRIu64 ", +%" PRIu64
                               ") runs into the central directory at %" PRIu64,
                               path, shown, data, usize, cd_offset);
            goto fail;
        }
        zip.entries[zip.n].name = malloc((size_t)nlen + 1);
        if (!zip.entries[zip.n].name) {
            st = dio_set_error(DIO_ERR_OUT_OF_HOST_MEMORY, "checkpoint '%s': out of memory for zip names",
                               path);
            goto fail;
        }
        memcpy(zip.entries[zip.n].name, shown, (size_t)nlen + 1);
        zip.entries[zip.n].data_offset = data;
        zip.entries[zip.n].size = usize;
        zip.entries[zip.n].crc32 = crc;
        zip.n++;
        pos += PZ_CENTRAL_SIZE + (uint64_t)nlen + elen + clen;
    }
    if (zip.n > 1) qsort(zip.entries, zip.n, sizeof *zip.entries, pz_cmp_entry);
    for (size_t i = 1; i < zip.n; i++) {
        if (strcmp(zip.entries[i - 1].name, zip.entries[i].name) == 0) {
            st = dio_set_error(DIO_ERR_BAD_FORMAT, "checkpoint '%s': zip entry " PT_NM " appears twice", path,
                               zip.entries[i].name);
            goto fail;
        }
    }
    *out = zip;
    return DIO_OK;
fail:
    pt_zip_free(&zip);
    return st;
}
