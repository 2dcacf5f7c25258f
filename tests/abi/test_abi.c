/* ABI compatibility tests: the negotiation rule on its own, then the loader against the fake plugins
 * of fake_plugin.c (one .so per broken or stretched rule) — each accepted or refused with the right
 * message — and a backend opened from an accepted fake. Usage: test_abi FAKE_PLUGIN_DIR */
#include <stdio.h>
#include <string.h>

#include "diorama/diorama.h"

static int failures;

#define CHECK(cond, ...)                                                                                     \
    do {                                                                                                     \
        if (!(cond)) {                                                                                       \
            failures++;                                                                                      \
            printf("FAIL %s:%d: ", __FILE__, __LINE__);                                                      \
            printf(__VA_ARGS__);                                                                             \
            printf("\n");                                                                                    \
        }                                                                                                    \
    } while (0)

static void test_negotiation(void)
{
    uint32_t agreed = 0;
    /* A host at 1.3 that still takes 1.0, against an older-minor plugin: they agree on the plugin's 1.1. */
    CHECK(dio_abi_negotiate(DIO_ABI_MAKE(1, 0), DIO_ABI_MAKE(1, 3), DIO_ABI_MAKE(1, 0), DIO_ABI_MAKE(1, 1),
                            &agreed) &&
              agreed == DIO_ABI_MAKE(1, 1),
          "older minor plugin should be accepted at 1.1, agreed %x", agreed);
    /* A newer-minor plugin against that host: agreed on the host's 1.3. */
    CHECK(dio_abi_negotiate(DIO_ABI_MAKE(1, 0), DIO_ABI_MAKE(1, 3), DIO_ABI_MAKE(1, 0), DIO_ABI_MAKE(1, 9),
                            &agreed) &&
              agreed == DIO_ABI_MAKE(1, 3),
          "newer minor plugin should be accepted at 1.3, agreed %x", agreed);
    /* A newer-major plugin that dropped 1.x: refused. */
    CHECK(!dio_abi_negotiate(DIO_ABI_MAKE(1, 0), DIO_ABI_MAKE(1, 3), DIO_ABI_MAKE(2, 0), DIO_ABI_MAKE(2, 0),
                             &agreed),
          "newer major plugin must be refused");
    /* A newer-major plugin that still speaks 1.2: accepted at 1.3... only if its range reaches 1.3. */
    CHECK(dio_abi_negotiate(DIO_ABI_MAKE(1, 0), DIO_ABI_MAKE(1, 3), DIO_ABI_MAKE(1, 2), DIO_ABI_MAKE(2, 0),
                            &agreed) &&
              agreed == DIO_ABI_MAKE(1, 3),
          "a plugin spanning 1.2..2.0 should agree on 1.3");
    /* A plugin too old for a host that dropped 1.0: refused. */
    CHECK(!dio_abi_negotiate(DIO_ABI_MAKE(1, 2), DIO_ABI_MAKE(1, 3), DIO_ABI_MAKE(1, 0), DIO_ABI_MAKE(1, 1),
                             &agreed),
          "a plugin below the host's minimum must be refused");
    CHECK(!dio_abi_negotiate(DIO_ABI_MAKE(1, 0), DIO_ABI_MAKE(1, 3), DIO_ABI_MAKE(1, 2), DIO_ABI_MAKE(1, 1),
                             &agreed),
          "an empty plugin range must be refused");
}

typedef struct expectation {
    const char *file; /* file name in the fake dir */
    int accepted;
    const char *reason; /* substring of the refusal */
} expectation;

static const expectation expected[] = {
    {"libdio_fake_a_good.so", 1, NULL},
    {"libdio_fake_newer_minor.so", 1, NULL},
    {"libdio_fake_older_minor.so", 1, NULL},
    {"libdio_fake_newer_major.so", 0,
     "ABI mismatch: the plugin speaks [2.0, 2.1], this host speaks [1.0, 1.1]"},
    {"libdio_fake_older_major.so", 0,
     "ABI mismatch: the plugin speaks [0.1, 0.9], this host speaks [1.0, 1.1]"},
    {"libdio_fake_null_desc.so", 0, "no descriptor"},
    {"libdio_fake_no_table.so", 0, "without a backend table"},
    {"libdio_fake_bad_name.so", 0, "name \"Fake Backend!\" is not"},
    {"libdio_fake_short_desc.so", 0, "is smaller than the 72 bytes of ABI 1.0"},
    {"libdio_fake_short_table.so", 0, "backend table struct_size 64 is smaller than"},
    {"libdio_fake_z_duplicate.so", 0, "duplicate: a backend named \"fake-good\" was already loaded from"},
    {"libdio_fake_entry_fails.so", 0, "fake plugin needs a device this machine lacks"},
    {"libdio_fake_missing_slot.so", 0, "leaves a required function NULL"},
    {"libdio_fake_plugin_refuses.so", 0,
     "(ABI_MISMATCH): fake plugin wants host ABI >= 9.0, host offers up to 1.1"},
    {"libdio_fake_no_entry.so", 0, "no entry symbol dio_plugin_entry"},
    {"libdio_fake_corrupt.so", 0, "cannot be loaded"},
};

static void test_loader(const char *dir)
{
    dio_context *ctx = NULL;
    dio_context_options opt;
    const char *dirs[1] = {dir};
    size_t n_expected = sizeof(expected) / sizeof(expected[0]);
    memset(&opt, 0, sizeof(opt));
    opt.struct_size = sizeof(opt);
    opt.no_env = 1;
    opt.no_default_dirs = 1;
    opt.plugin_dirs = dirs;
    opt.n_plugin_dirs = 1;
    CHECK(dio_context_create(&opt, &ctx) == DIO_OK, "context: %s", dio_last_error());
    if (!ctx) return;
    CHECK(dio_context_plugin_count(ctx) == (int32_t)n_expected, "saw %d plugin files, expected %zu",
          dio_context_plugin_count(ctx), n_expected);
    for (size_t e = 0; e < n_expected; e++) {
        int found = 0;
        for (int32_t i = 0; i < dio_context_plugin_count(ctx); i++) {
            dio_plugin_info info;
            const char *base;
            info.struct_size = sizeof(info);
            if (dio_context_plugin_at(ctx, i, &info) != DIO_OK) continue;
            base = strrchr(info.path, '/');
            base = base ? base + 1 : info.path;
            if (strcmp(base, expected[e].file) != 0) continue;
            found = 1;
            CHECK(info.accepted == expected[e].accepted, "%s: accepted=%d, expected %d (refusal: %s)", base,
                  info.accepted, expected[e].accepted, info.refusal ? info.refusal : "none");
            if (expected[e].reason)
                CHECK(info.refusal && strstr(info.refusal, expected[e].reason),
                      "%s: refusal \"%s\" lacks \"%s\"", base, info.refusal ? info.refusal : "(none)",
                      expected[e].reason);
            if (expected[e].accepted && strcmp(base, "libdio_fake_newer_minor.so") == 0)
                CHECK(info.abi_agreed == DIO_ABI_VERSION, "newer minor agreed on %x", info.abi_agreed);
            if (expected[e].accepted && strcmp(base, "libdio_fake_older_minor.so") == 0)
                CHECK(info.abi_agreed == DIO_ABI_MAKE(1, 0), "older minor agreed on %x", info.abi_agreed);
            printf("%-32s %s %s\n", base,
                   info.accepted ? "accepted" : "refused:", info.refusal ? info.refusal : "");
        }
        CHECK(found, "%s was not seen by the loader", expected[e].file);
    }

    /* Finding and opening: the accepted fake opens; an unknown name says what exists. */
    {
        const dio_plugin_descriptor *d = NULL;
        dio_backend *be = NULL;
        CHECK(dio_context_find(ctx, DIO_PLUGIN_BACKEND, "fake-good", &d) == DIO_OK && d, "find fake-good");
        CHECK(dio_context_find(ctx, DIO_PLUGIN_BACKEND, "nosuch", &d) == DIO_ERR_NOT_SUPPORTED &&
                  strstr(dio_last_error(), "no backend plugin named \"nosuch\"") &&
                  strstr(dio_last_error(), "fake-good"),
              "unknown backend message: %s", dio_last_error());
        CHECK(dio_backend_open(ctx, "fake-good", NULL, 0, &be) == DIO_OK, "open fake-good: %s",
              dio_last_error());
        dio_backend_close(be);
        dio_backend_close(NULL);
    }

    /* An explicit load of a refused file fails with the refusal's status. */
    {
        char path[4096];
        snprintf(path, sizeof(path), "%s/libdio_fake_newer_major.so", dir);
        /* Already seen: the context does not load a file twice, so use a fresh context. */
        dio_context *c2 = NULL;
        dio_context_options o2 = opt;
        o2.n_plugin_dirs = 0;
        CHECK(dio_context_create(&o2, &c2) == DIO_OK, "empty context");
        CHECK(dio_context_plugin_count(c2) == 0, "an empty context found plugins");
        CHECK(dio_context_load(c2, path) == DIO_ERR_ABI_MISMATCH && strstr(dio_last_error(), path),
              "explicit load of a newer-major plugin: %s", dio_last_error());
        snprintf(path, sizeof(path), "%s/libdio_fake_no_entry.so", dir);
        CHECK(dio_context_load(c2, path) == DIO_ERR_BAD_FORMAT && strstr(dio_last_error(), "no entry symbol"),
              "explicit load without entry: %s", dio_last_error());
        CHECK(dio_context_load(c2, "/nonexistent/libdio_x.so") == DIO_ERR_IO, "missing file");
        dio_context_destroy(c2);
    }
    dio_context_destroy(ctx);
    dio_context_destroy(NULL);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: test_abi FAKE_PLUGIN_DIR\n");
        return 2;
    }
    test_negotiation();
    test_loader(argv[1]);
    printf(failures ? "%d failure(s)\n" : "all ABI checks passed\n", failures);
    return failures ? 1 : 0;
}
