/* tests/hardening: checkpoints built to attack the torch.save reader are refused, and nothing in them runs.
 *
 * Each file of tests/hardening/attack/cases.txt (written with its .pt by
 * tests/reference/gen_attack_pickles.py) is opened with dio_weights_open in a child process that first
 * installs a seccomp filter killing it (SIGSYS) on anything a payload would need to act: execve/execveat,
 * fork/vfork/clone/clone3, and opening, creating, renaming or removing a file for writing. The child sends
 * back the status and message through a pipe and leaves with _exit (so no exit handler runs under the
 * filter). The parent requires: the child was not killed, the status is the one listed, the message
 * holds every listed substring, and the payloads' marker file /tmp/dio_attack_pwned does not exist.
 *
 * Two controls show the filter would catch a payload that ran: a child that calls system() and one that
 * fopen()s the marker for writing must both die of SIGSYS with the marker still absent. Without seccomp
 * (a kernel or architecture this file does not know) the test says so and exits 77 (skipped).
 * Usage: test_attack ATTACK_DIR */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "diorama/diorama.h"

#define MARKER "/tmp/dio_attack_pwned"

#if defined(__x86_64__)
#define ATTACK_ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define ATTACK_ARCH AUDIT_ARCH_AARCH64
#endif

#ifdef ATTACK_ARCH
/* One BPF rule: syscall number nr kills the process. */
#define KILL_NR(nr)                                                                                          \
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (nr), 0, 1), BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS)
/* Syscall nr kills the process when argument `arg` has any of the write/create flags. */
#define KILL_WRITE_OPEN(nr, arg)                                                                             \
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (nr), 0, 3),                                                         \
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[arg])),                        \
        BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, O_WRONLY | O_RDWR | O_CREAT | O_TRUNC | O_APPEND, 0, 1),        \
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS)

/* Installs the filter in the calling process; 0 on success. */
static int sandbox(void)
{
    struct sock_filter f[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, ATTACK_ARCH, 1, 0),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        KILL_NR(__NR_execve),
        KILL_NR(__NR_execveat),
        KILL_NR(__NR_clone),
#ifdef __NR_clone3
        KILL_NR(__NR_clone3),
#endif
#ifdef __NR_fork
        KILL_NR(__NR_fork),
#endif
#ifdef __NR_vfork
        KILL_NR(__NR_vfork),
#endif
#ifdef __NR_creat
        KILL_NR(__NR_creat),
#endif
        KILL_NR(__NR_renameat),
#ifdef __NR_renameat2
        KILL_NR(__NR_renameat2),
#endif
#ifdef __NR_rename
        KILL_NR(__NR_rename),
#endif
        KILL_NR(__NR_unlinkat),
#ifdef __NR_unlink
        KILL_NR(__NR_unlink),
#endif
        KILL_NR(__NR_mkdirat),
#ifdef __NR_mkdir
        KILL_NR(__NR_mkdir),
#endif
        /* the open family last: each rule reloads the accumulator, so nr is reloaded between them */
        KILL_WRITE_OPEN(__NR_openat, 2),
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
#ifdef __NR_open
        KILL_WRITE_OPEN(__NR_open, 1),
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
#endif
    /* openat2 carries its flags in a struct the filter cannot read: refuse it outright */
#ifdef __NR_openat2
        KILL_NR(__NR_openat2),
#endif
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    struct sock_fprog prog = {(unsigned short)(sizeof f / sizeof f[0]), f};
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) return -1;
    return prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) != 0 ? -1 : 0;
}
#else
static int sandbox(void)
{
    errno = ENOSYS;
    return -1;
}
#endif

typedef enum child_job { JOB_OPEN, JOB_CONTROL_SYSTEM, JOB_CONTROL_WRITE } child_job;

typedef struct child_result {
    int killed_by; /* signal, or 0 */
    int exit_code;
    char reply[1200]; /* "STATUS_NAME message" */
} child_result;

/* Runs job in a sandboxed child; the child writes its reply to a pipe made before the filter. */
static int run_child(child_job job, const char *path, child_result *r)
{
    int fds[2];
    memset(r, 0, sizeof *r);
    if (pipe(fds) != 0) return -1;
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0) return -1;
    if (pid == 0) {
        close(fds[0]);
        if (sandbox() != 0) _exit(3);
        char msg[1200];
        if (job == JOB_CONTROL_SYSTEM) {
            int rc = system("touch " MARKER);
            snprintf(msg, sizeof msg, "system() returned %d", rc);
        } else if (job == JOB_CONTROL_WRITE) {
            FILE *f = fopen(MARKER, "w");
            snprintf(msg, sizeof msg, "fopen for writing %s", f ? "succeeded" : "failed");
        } else {
            dio_weights *w = NULL;
            dio_status st = dio_weights_open(path, &w);
            snprintf(msg, sizeof msg, "%s %s", dio_status_name(st), st == DIO_OK ? "" : dio_last_error());
            dio_weights_close(w);
        }
        ssize_t n = write(fds[1], msg, strlen(msg));
        _exit(n < 0 ? 4 : 0);
    }
    close(fds[1]);
    size_t got = 0;
    for (;;) {
        ssize_t n = read(fds[0], r->reply + got, sizeof r->reply - 1 - got);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        got += (size_t)n;
    }
    r->reply[got] = '\0';
    close(fds[0]);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR) return -1;
    if (WIFSIGNALED(status)) r->killed_by = WTERMSIG(status);
    if (WIFEXITED(status)) r->exit_code = WEXITSTATUS(status);
    return 0;
}

static int marker_exists(void)
{
    struct stat sb;
    return stat(MARKER, &sb) == 0;
}

/* The controls: a payload that ran would be caught. Returns the failures. */
static int controls(void)
{
    int failed = 0;
    child_result r;
    const child_job jobs[2] = {JOB_CONTROL_SYSTEM, JOB_CONTROL_WRITE};
    const char *names[2] = {"system(\"touch marker\")", "fopen(marker, \"w\")"};
    for (int i = 0; i < 2; i++) {
        if (run_child(jobs[i], NULL, &r) != 0 || r.killed_by != SIGSYS || marker_exists()) {
            printf("FAIL control %s under the filter: signal %d, exit %d, reply '%s', marker %s\n", names[i],
                   r.killed_by, r.exit_code, r.reply, marker_exists() ? "written" : "absent");
            failed++;
        } else {
            printf("ok   control %s is killed by SIGSYS before it acts\n", names[i]);
        }
    }
    return failed;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: test_attack ATTACK_DIR\n");
        return 2;
    }
    (void)unlink(MARKER);
    /* Is seccomp usable here at all? Probe in a child so the parent stays unfiltered. */
    pid_t pid = fork();
    if (pid == 0) _exit(sandbox() == 0 ? 0 : 1);
    int status = 0;
    if (pid < 0 || waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        printf("skipped: seccomp filters are not available on this kernel or architecture\n");
        return 77;
    }
    int failed = controls();

    char cases[PATH_MAX];
    snprintf(cases, sizeof cases, "%s/cases.txt", argv[1]);
    FILE *f = fopen(cases, "r");
    if (!f) {
        printf("FAIL cannot open %s: %s\n", cases, strerror(errno));
        return 1;
    }
    char line[1024];
    int n = 0;
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\r\n")] = '\0';
        if (line[0] == '#' || line[0] == '\0') continue;
        char *save = NULL, *file = strtok_r(line, "|", &save), *want_status = strtok_r(NULL, "|", &save);
        if (!file || !want_status) {
            printf("FAIL malformed line in %s\n", cases);
            failed++;
            continue;
        }
        char path[PATH_MAX];
        snprintf(path, sizeof path, "%s/%s", argv[1], file);
        child_result r;
        int ok = run_child(JOB_OPEN, path, &r) == 0 && r.killed_by == 0 && r.exit_code == 0;
        size_t sl = strlen(want_status);
        ok = ok && strncmp(r.reply, want_status, sl) == 0 && r.reply[sl] == ' ';
        for (char *want = strtok_r(NULL, "|", &save); want; want = strtok_r(NULL, "|", &save))
            if (!strstr(r.reply, want)) {
                printf("     '%s' lacks \"%s\"\n", file, want);
                ok = 0;
            }
        if (marker_exists()) ok = 0;
        printf("%s %s: %s%s\n", ok ? "ok  " : "FAIL", file, r.reply,
               r.killed_by ? " (killed by the sandbox: the reader tried to spawn or write)" : "");
        failed += !ok;
        n++;
    }
    fclose(f);
    if (marker_exists()) {
        printf("FAIL %s exists: a payload ran\n", MARKER);
        failed++;
    }
    printf("%d attack checkpoints, %d failures; no process spawned, no file written\n", n, failed);
    return failed ? 1 : 0;
}
