/* diorama info FILE — what a written video holds: size, frame count, fps, container, codec and each
 * metadata key=value, one per line (tab, CR, LF and backslash in values printed as \t \r \n \\ so a
 * line is always one entry). A PNG frame folder is named by the folder or by "X.png". Uses the
 * public API only (dio_media_info_read); a file that cannot be read is exit status 1 with the
 * library's message, a usage error 2. */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "diorama/diorama.h"

static void print_escaped(const char *s)
{
    for (; *s; s++) {
        switch (*s) {
        case '\n': fputs("\\n", stdout); break;
        case '\r': fputs("\\r", stdout); break;
        case '\t': fputs("\\t", stdout); break;
        case '\\': fputs("\\\\", stdout); break;
        default: putchar(*s);
        }
    }
}

int cli_info(int argc, char **argv)
{
    const char *file = NULL;
    int seen_word = 0;
    dio_media_info info;

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--backend") == 0 || strcmp(a, "--plugin-dir") == 0 || strcmp(a, "--threads") == 0 ||
            strcmp(a, "-t") == 0) {
            i++;
            continue;
        }
        if (strcmp(a, "-v") == 0) {
            dio_log_set_level(DIO_LOG_INFO);
            continue;
        }
        if (!seen_word && strcmp(a, "info") == 0) {
            seen_word = 1;
            continue;
        }
        if (file) {
            fprintf(stderr, "usage: diorama info FILE\n");
            return 2;
        }
        file = a;
    }
    if (!file) {
        fprintf(stderr, "usage: diorama info FILE\n");
        return 2;
    }
    memset(&info, 0, sizeof(info));
    info.struct_size = sizeof(info);
    if (dio_media_info_read(file, &info) != DIO_OK) {
        fprintf(stderr, "diorama: info: %s\n", dio_last_error());
        return 1;
    }
    printf("file       %s\n", file);
    printf("size       %dx%d\n", info.width, info.height);
    printf("frames     %d\n", info.frames);
    printf("fps        %.6g\n", info.fps);
    printf("container  %s\n", info.container ? info.container : "?");
    printf("codec      %s\n", info.codec ? info.codec : "?");
    printf("metadata   %zu\n", info.n_metadata);
    for (size_t i = 0; i < info.n_metadata; i++) {
        fputs("  ", stdout);
        print_escaped(info.metadata[i].key);
        putchar('=');
        print_escaped(info.metadata[i].value);
        putchar('\n');
    }
    dio_media_info_free(&info);
    return 0;
}
