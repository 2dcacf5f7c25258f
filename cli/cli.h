/* diorama — the commands that live in their own files. Each gets the whole argv (global options
 * such as --backend, --plugin-dir, -t/--threads and -v may appear anywhere) and returns the exit
 * status: 0 success, 1 failure (the message printed from dio_last_error()), 2 usage error. */
#ifndef DIORAMA_CLI_H
#define DIORAMA_CLI_H

/* diorama generate: run a pipeline graph (cmd_generate.c). */
int cli_generate(int argc, char **argv);
/* diorama info FILE: size, frames, fps, codec and generation metadata of a written video (cmd_info.c). */
int cli_info(int argc, char **argv);

#endif
