/* backtest/bt_base.c -- the analyzers as they were at a git revision (--base REV): the folders
 * of the analyzer path, analyzers/lib with them, are extracted from the revision with `git
 * archive` into a temporary folder, without the case folders (cases always come from the
 * working tree, so that head and base replay the same ones). git runs as a child process with
 * its output captured: no shell, so no quoting of revisions or paths. bt_run.c runs the cases
 * against both analyzer paths. */
#define _GNU_SOURCE /* nftw, pipe2 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bt_internal.h"

#define OUT_MAX     4096 /* bytes of a git command's output kept; its answers are one line */
#define TOP_MAX     4096 /* bytes of the repository's top folder */
#define EXEC_FAILED 127  /* the exit status of a child whose exec failed, as in shells */
/* Case folders are left out of the archive: they are the bulk of the tree, and unused. */
#define NO_CASES ":(top,exclude,glob)**/*.cases/**"

/* What a command printed (cut to OUT_MAX - 1 bytes) and how it ended. */
typedef struct output {
    char out[OUT_MAX], err[OUT_MAX];
    size_t n_out, n_err;
    int status;     /* the exit status, or -1 when it did not exit normally */
    int exec_errno; /* the errno of a failed exec, else 0 */
} output;

/* Reads what 'fds' (stdout, stderr of a child) carry until both are closed. */
static void drain(int fds[2], output *o) {
    struct pollfd p[2] = {{.fd = fds[0], .events = POLLIN}, {.fd = fds[1], .events = POLLIN}};
    char *bufs[2] = {o->out, o->err};
    size_t *lens[2] = {&o->n_out, &o->n_err};
    int open = 2;
    while (open > 0) {
        if (poll(p, 2, -1) < 0 && errno != EINTR)
            break;
        for (int i = 0; i < 2; i++) {
            if (p[i].fd < 0 || !p[i].revents)
                continue;
            char chunk[4096];
            ssize_t n = read(p[i].fd, chunk, sizeof chunk);
            if (n < 0 && errno == EINTR)
                continue;
            if (n <= 0) {
                close(p[i].fd);
                p[i].fd = -1;
                open--;
                continue;
            }
            size_t keep = OUT_MAX - 1 - *lens[i];
            keep = (size_t)n < keep ? (size_t)n : keep;
            memcpy(bufs[i] + *lens[i], chunk, keep);
            *lens[i] += keep;
        }
    }
    o->out[o->n_out] = '\0';
    o->err[o->n_err] = '\0';
}

/* Runs 'argv' (argv[0] looked up on PATH) with its output captured in 'o'. Returns 0 when it ran
 * (whatever its status), -1 when it could not be started (o->exec_errno says why). */
static int run(const char *const argv[], output *o) {
    int out[2], err[2], report[2];
    memset(o, 0, sizeof *o);
    o->status = -1;
    if (pipe(out) != 0 || pipe(err) != 0 || pipe2(report, O_CLOEXEC) != 0) {
        o->exec_errno = errno;
        return -1;
    }
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        dup2(out[1], STDOUT_FILENO);
        dup2(err[1], STDERR_FILENO);
        close(out[0]), close(err[0]), close(out[1]), close(err[1]), close(report[0]);
        int fd = open("/dev/null", O_RDONLY);
        if (fd >= 0)
            dup2(fd, STDIN_FILENO);
        execvp(argv[0], (char *const *)argv);
        int e = errno; /* the parent learns why through the close-on-exec pipe */
        if (write(report[1], &e, sizeof e) < 0)
            _exit(EXEC_FAILED);
        _exit(EXEC_FAILED);
    }
    close(out[1]), close(err[1]), close(report[1]);
    if (pid < 0) {
        o->exec_errno = errno;
        close(out[0]), close(err[0]), close(report[0]);
        return -1;
    }
    int fds[2] = {out[0], err[0]};
    drain(fds, o);
    int e = 0, status = 0;
    ssize_t got = read(report[0], &e, sizeof e);
    close(report[0]);
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    if (got == (ssize_t)sizeof e) {
        o->exec_errno = e;
        return -1;
    }
    o->status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    return 0;
}

/* The first line of 'text' without its newline, in place. */
static char *first_line(char *text) {
    text[strcspn(text, "\r\n")] = '\0';
    return text;
}

/* Runs git with 'args' (NULL-terminated) in folder 'dir'. Returns RT_OK when git exited 0;
 * RT_ENOTFOUND when git could not be started; RT_EUSAGE otherwise, git's message in o->err. */
static int git(output *o, const char *dir, ...) {
    const char *argv[24] = {"git", "-C", dir};
    int n = 3;
    va_list ap;
    va_start(ap, dir);
    for (const char *a; n < 23 && (a = va_arg(ap, const char *));)
        argv[n++] = a;
    va_end(ap);
    argv[n] = NULL;
    if (run(argv, o) != 0)
        return RT_ENOTFOUND;
    return o->status == 0 ? RT_OK : RT_EUSAGE;
}

static void git_missing(rt_diag *diag, const output *o) {
    rt_diag_add(diag, NULL, 0, "--base", "cannot run git (%s): --base needs git on the PATH",
                strerror(o->exec_errno));
}

bool bt__head_commit(const char *dir, char *commit) {
    output o;
    if (git(&o, dir, "rev-parse", "--verify", "--quiet", "HEAD", (char *)NULL) != RT_OK)
        return false;
    snprintf(commit, 64, "%.63s", first_line(o.out));
    return *commit != '\0';
}

/* ---- materialising the revision ------------------------------------------------------------ */

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
    (void)st, (void)flag, (void)ftw;
    return remove(path) == 0 || errno == ENOENT ? 0 : -1;
}

/* Where each folder of the analyzer path lies in its repository: the repository's top (the
 * same for all) and the folder's prefix in it ("analyzers/"; "" at the top). */
static int locate(const char *const *dirs, size_t n_dirs, char *top, char **prefixes,
                  rt_diag *diag) {
    output o;
    for (size_t i = 0; i < n_dirs; i++) {
        int rc = git(&o, dirs[i], "rev-parse", "--show-toplevel", "--show-prefix", (char *)NULL);
        if (rc == RT_ENOTFOUND) {
            git_missing(diag, &o);
            return rc;
        }
        if (rc != RT_OK) {
            rt_diag_add(diag, dirs[i], 0, "--base",
                        "the analyzer folder is not in a git repository: %s", first_line(o.err));
            return RT_EUSAGE;
        }
        char *line2 = strchr(o.out, '\n');
        if (!line2) {
            rt_diag_add(diag, dirs[i], 0, "--base", "git rev-parse answered \"%s\"", o.out);
            return RT_EUSAGE;
        }
        *line2++ = '\0';
        if (i > 0 && strcmp(top, o.out) != 0) {
            rt_diag_add(diag, dirs[i], 0, "--base",
                        "the analyzer path spans two git repositories (%s and %s): --base needs "
                        "one",
                        top, o.out);
            return RT_EUSAGE;
        }
        snprintf(top, TOP_MAX, "%s", o.out);
        prefixes[i] = rt_xstrdup(first_line(line2));
    }
    return RT_OK;
}

/* The commit that 'rev' names in the repository at 'top'. */
static int resolve(const char *top, const char *rev, char *commit, rt_diag *diag) {
    output o;
    size_t n = strlen(rev) + sizeof "^{commit}";
    char *spec = rt_xmalloc(n);
    snprintf(spec, n, "%s^{commit}", rev);
    /* --end-of-options: a revision that starts with '-' is not taken for an option. */
    int rc =
        git(&o, top, "rev-parse", "--verify", "--quiet", "--end-of-options", spec, (char *)NULL);
    free(spec);
    if (rc == RT_ENOTFOUND)
        git_missing(diag, &o);
    else if (rc != RT_OK)
        rt_diag_add(diag, NULL, 0, "--base", "'%s' names no commit in the git repository %s", rev,
                    top);
    else
        snprintf(commit, 64, "%.63s", first_line(o.out));
    return rc;
}

/* Whether the folder 'prefix' ("analyzers/"; "": the top) exists at 'commit'. */
static bool exists_at(const char *top, const char *commit, const char *prefix) {
    output o;
    size_t n = strlen(commit) + strlen(prefix) + 2;
    char *object = rt_xmalloc(n);
    snprintf(object, n, "%s:%s", commit, prefix);
    bool found = git(&o, top, "cat-file", "-e", object, (char *)NULL) == RT_OK;
    free(object);
    return found;
}

/* Extracts the folders 'prefixes' ('n' of them, each existing at 'commit') into 'tree'. */
static int extract(const char *top, const char *commit, char **prefixes, size_t n, const char *tmp,
                   const char *tree, rt_diag *diag) {
    output o;
    char archive[4200];
    snprintf(archive, sizeof archive, "%s/base.tar", tmp);
    const char *argv[24] = {"git", "-C",    top,    "archive", "--format=tar",
                            "-o",  archive, commit, "--"};
    size_t argc = 9;
    for (size_t i = 0; i < n && argc < 21; i++)
        argv[argc++] = *prefixes[i] ? prefixes[i] : ".";
    argv[argc++] = NO_CASES;
    argv[argc] = NULL;
    if (run(argv, &o) != 0 || o.status != 0) {
        rt_diag_add(diag, NULL, 0, "--base", "git archive of %s failed: %s", commit,
                    o.exec_errno ? strerror(o.exec_errno) : first_line(o.err));
        return RT_EIO;
    }
    const char *tar[] = {"tar", "-x", "-f", archive, "-C", tree, NULL};
    if (run(tar, &o) != 0 || o.status != 0) {
        rt_diag_add(diag, NULL, 0, "--base", "cannot extract the analyzers of %s: %s", commit,
                    o.exec_errno ? strerror(o.exec_errno) : first_line(o.err));
        return RT_EIO;
    }
    unlink(archive);
    return RT_OK;
}

/* A new temporary folder under $TMPDIR (or /tmp), with tree/ in it. */
static int make_tmp(bt_base *base, rt_diag *diag) {
    const char *dir = getenv("TMPDIR");
    dir = dir && *dir ? dir : "/tmp";
    size_t n = strlen(dir) + sizeof "/inquest-backtest-XXXXXX";
    base->tmp = rt_xmalloc(n);
    snprintf(base->tmp, n, "%s/inquest-backtest-XXXXXX", dir);
    if (!mkdtemp(base->tmp)) {
        rt_diag_add(diag, base->tmp, 0, "--base", "cannot make a temporary folder: %s",
                    strerror(errno));
        free(base->tmp);
        base->tmp = NULL;
        return RT_EIO;
    }
    /* Readable by all: a backtest started as root replays as worker.user, and the analyzers
     * of a repository are no secret. */
    char tree[4200];
    snprintf(tree, sizeof tree, "%s/tree", base->tmp);
    if (chmod(base->tmp, 0755) != 0 || mkdir(tree, 0755) != 0) {
        rt_diag_add(diag, tree, 0, "--base", "cannot make a folder: %s", strerror(errno));
        return RT_EIO;
    }
    return RT_OK;
}

/* mkdir -p 'path' (mode 0755). */
static int make_dirs(char *path) {
    for (char *p = path + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        int rc = mkdir(path, 0755);
        *p = '/';
        if (rc != 0 && errno != EEXIST)
            return -1;
    }
    return mkdir(path, 0755) != 0 && errno != EEXIST ? -1 : 0;
}

/* The analyzer path at the base: the same folders under tree/, those the revision lacks
 * made empty (their analyzers are new on head). */
static int base_dirs(bt_base *base, char **prefixes, size_t n, rt_diag *diag) {
    for (size_t i = 0; i < n; i++) {
        size_t len = strlen(base->tmp) + strlen(prefixes[i]) + sizeof "/tree/";
        base->dirs[i] = rt_xmalloc(len);
        snprintf(base->dirs[i], len, "%s/tree/%s", base->tmp, prefixes[i]);
        base->n_dirs = i + 1;
        if (make_dirs(base->dirs[i]) != 0) {
            rt_diag_add(diag, base->dirs[i], 0, "--base", "cannot make a folder: %s",
                        strerror(errno));
            return RT_EIO;
        }
    }
    return RT_OK;
}

int bt__base_open(const char *rev, const char *const *dirs, size_t n_dirs, bt_base *base,
                  rt_diag *diag) {
    char top[TOP_MAX] = "", *prefixes[16] = {0}, *present[16];
    size_t n_present = 0;
    memset(base, 0, sizeof *base);
    n_dirs = n_dirs < 16 ? n_dirs : 16;
    int rc = locate(dirs, n_dirs, top, prefixes, diag);
    if (rc == RT_OK)
        rc = resolve(top, rev, base->commit, diag);
    if (rc == RT_OK)
        rc = make_tmp(base, diag);
    for (size_t i = 0; rc == RT_OK && i < n_dirs; i++)
        if (exists_at(top, base->commit, prefixes[i]))
            present[n_present++] = prefixes[i];
    char tree[4200];
    if (rc == RT_OK && n_present) {
        snprintf(tree, sizeof tree, "%s/tree", base->tmp);
        rc = extract(top, base->commit, present, n_present, base->tmp, tree, diag);
    }
    if (rc == RT_OK)
        rc = base_dirs(base, prefixes, n_dirs, diag);
    for (size_t i = 0; i < n_dirs; i++)
        free(prefixes[i]);
    if (rc != RT_OK)
        bt__base_close(base);
    return rc;
}

void bt__base_close(bt_base *base) {
    if (base->tmp)
        nftw(base->tmp, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    free(base->tmp);
    for (size_t i = 0; i < base->n_dirs; i++)
        free(base->dirs[i]);
    memset(base, 0, sizeof *base);
}
