/* workers/wk_jail.c -- the process sandbox of a worker child (DESIGN.md §5, layer 3): privilege
 * drop, rlimits, no new privileges, and a seccomp allow-list. wk_supervisor.c forks the children
 * that enter it.
 *
 * Design notes. The jail is entered in this order, each step needing what the previous one
 * still had:
 *   0. environment: every variable but those the libraries read (time zone, locale, proxies, CA
 *      bundles, resolver, libuv and sanitizer options) is removed and its text zeroed: the
 *      child has read its secrets by now, and the environment it inherited may hold others
 *      (serve's tokens, connector credentials) that analyzer code must never reach;
 *   1. identity: a root process becomes the configured user (getpwnam and initgroups read
 *      /etc/passwd and /etc/group through NSS, which the filter would later constrain);
 *   2. rlimits: lowered for good, soft and hard together, so nothing can raise them again;
 *   3. PR_SET_NO_NEW_PRIVS (also required to load a filter without CAP_SYS_ADMIN) and
 *      PR_SET_DUMPABLE 0 (no core, no ptrace by other processes of the same user);
 *   3b. files (Landlock, when the caller names what it reads and the kernel has it): reading
 *      only beneath those paths and the ones libraries read (shared libraries, CA bundles, the
 *      resolver's files, time zones), writing nothing anywhere: the filter lets a process open
 *      any file for reading, which the user's rights alone would leave to every file the user
 *      may read (another daemon's config, /proc of its processes);
 *   4. the seccomp filter, synchronised to every thread (TSYNC), last, since it forbids the
 *      calls above.
 * The filter is an allow-list: its default action kills the whole process (SIGSYS). A violation
 * is a bug or an attack, and a dead child is loud: the supervisor logs "killed by the sandbox"
 * and restarts it, and the analysis it held is reclaimed when its lease expires. Only calls
 * that libraries are known to probe, and whose failure they handle, get an errno instead
 * (clone3, openat2, io_uring, a netlink socket, TCGETS, the set*id family); the table says why
 * for each. */
#define _GNU_SOURCE /* setresuid, getresuid, initgroups, CLONE_THREAD */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/landlock.h>
#include <pwd.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <termios.h>
#include <unistd.h>
#include <seccomp.h>
#include "rt.h"
#include "wk_jail.h"

#define WHY_SIZE 256

/* ---- 0. environment ------------------------------------------------------------------------- */

/* Variables a jailed child keeps: what libc, libcurl, OpenSSL, libuv and the sanitizers read.
 * Whatever else a process needs from its environment it copies before the jail: the text of
 * every other variable is zeroed. */
static int kept_variable(const char *entry) {
    /* clang-format off */
    static const char *const kept[] = {
        "TZ=", "LANG=", "LC_", "http_proxy=", "https_proxy=", "HTTPS_PROXY=", "ALL_PROXY=",
        "all_proxy=", "NO_PROXY=", "no_proxy=", "SSL_CERT_FILE=", "SSL_CERT_DIR=",
        "CURL_CA_BUNDLE=", "RES_OPTIONS=", "LOCALDOMAIN=", "ASAN_OPTIONS=", "UBSAN_OPTIONS=",
        "LSAN_OPTIONS=", "UV_THREADPOOL_SIZE=", NULL,
    };
    /* clang-format on */
    for (const char *const *k = kept; *k; k++)
        if (strncmp(entry, *k, strlen(*k)) == 0)
            return 1;
    return 0;
}

/* Removes every variable but the kept ones and zeroes their text, which /proc/PID/environ and
 * the process' memory would otherwise still show. */
static void scrub_environment(void) {
    size_t n = 0, k = 0;
    while (environ && environ[n])
        n++;
    char **kept = rt_xcalloc(n ? n : 1, sizeof *kept);
    for (size_t i = 0; i < n; i++) {
        if (kept_variable(environ[i]))
            kept[k++] = environ[i];
        else
            memset(environ[i], 0, strlen(environ[i]));
    }
    clearenv();
    for (size_t i = 0; i < k; i++)
        putenv(kept[i]);
    free(kept);
}

/* ---- 1. identity ---------------------------------------------------------------------------- */

/* Fails when any of the real, effective and saved ids is still root, or root can be regained. */
static int check_not_root(char *why) {
    uid_t ruid, euid, suid;
    gid_t rgid, egid, sgid;
    if (getresuid(&ruid, &euid, &suid) != 0 || getresgid(&rgid, &egid, &sgid) != 0) {
        snprintf(why, WHY_SIZE, "cannot read the process ids: %s", strerror(errno));
        return RT_EINTERNAL;
    }
    if (ruid == 0 || euid == 0 || suid == 0 || rgid == 0 || egid == 0 || sgid == 0) {
        snprintf(why, WHY_SIZE, "privilege drop incomplete: uid %d/%d/%d gid %d/%d/%d", (int)ruid,
                 (int)euid, (int)suid, (int)rgid, (int)egid, (int)sgid);
        return RT_EINTERNAL;
    }
    if (setuid(0) == 0 || setgid(0) == 0) {
        snprintf(why, WHY_SIZE, "privilege drop failed: the process could become root again");
        return RT_EINTERNAL;
    }
    return RT_OK;
}

/* Becomes 'name' for good: supplementary groups first and the uid last, since each step needs
 * the privileges the next one gives up. */
static int become_user(const char *name, char *why) {
    errno = 0;
    struct passwd *pw = getpwnam(name);
    if (!pw) {
        snprintf(why, WHY_SIZE, "unknown user '%s' to run workers as%s%s", name, errno ? ": " : "",
                 errno ? strerror(errno) : "");
        return RT_EUSAGE;
    }
    uid_t uid = pw->pw_uid;
    gid_t gid = pw->pw_gid;
    if (uid == 0 || gid == 0) {
        snprintf(why, WHY_SIZE, "user '%s' has uid or gid 0: workers need an unprivileged user",
                 name);
        return RT_EUSAGE;
    }
    /* The kernel clears the parent-death signal when the uid changes; the supervisor sets it so
     * that a child drains when the supervisor dies, so it is put back. */
    int pdeathsig = 0;
    prctl(PR_GET_PDEATHSIG, &pdeathsig, 0, 0, 0);
    if (initgroups(name, gid) != 0 || setresgid(gid, gid, gid) != 0 ||
        setresuid(uid, uid, uid) != 0) {
        snprintf(why, WHY_SIZE, "cannot become user '%s': %s", name, strerror(errno));
        return RT_EINTERNAL;
    }
    if (pdeathsig && prctl(PR_SET_PDEATHSIG, pdeathsig, 0, 0, 0) != 0) {
        snprintf(why, WHY_SIZE, "prctl(PR_SET_PDEATHSIG): %s", strerror(errno));
        return RT_EINTERNAL;
    }
    return check_not_root(why);
}

static int drop_privileges(const wk_jail_options *o, char *why) {
    if (getuid() != 0 && geteuid() != 0)
        return RT_OK; /* nothing to drop; the user is only for processes started as root */
    if (o->user && *o->user)
        return become_user(o->user, why);
    if (o->allow_root)
        return RT_OK;
    snprintf(why, WHY_SIZE,
             "refusing to run workers as root: configure a user to run them as, or allow root "
             "explicitly");
    return RT_EUSAGE;
}

/* ---- 2. rlimits ----------------------------------------------------------------------------- */

static int set_limit(int resource, rlim_t value, const char *name, char *why) {
    struct rlimit now;
    if (getrlimit(resource, &now) != 0)
        now.rlim_max = RLIM_INFINITY;
    if (now.rlim_max != RLIM_INFINITY && value > now.rlim_max)
        value = now.rlim_max; /* lowering is always allowed; raising needs privileges */
    struct rlimit lim = {value, value};
    if (setrlimit(resource, &lim) != 0) {
        snprintf(why, WHY_SIZE, "setrlimit(%s): %s", name, strerror(errno));
        return RT_EINTERNAL;
    }
    return RT_OK;
}

static int is_regular_file(int fd) {
    struct stat st;
    return fstat(fd, &st) == 0 && S_ISREG(st.st_mode);
}

/* RLIMIT_NPROC is left alone: it counts every process and thread of the user, not of this
 * process, so with N children (and any other daemon sharing the user) a cap either starves the
 * resolver threads of a busy child or bounds nothing. Forking is denied by the filter instead,
 * and threads are only made by libcurl's resolver and libuv's pool, which are bounded. */
static int set_limits(const wk_jail_options *o, char *why) {
    int rc = set_limit(RLIMIT_CORE, 0, "RLIMIT_CORE", why); /* cores hold secrets and inputs */
    if (rc == RT_OK)
        rc = set_limit(RLIMIT_NOFILE, o->open_files ? o->open_files : WK_JAIL_DEFAULT_OPEN_FILES,
                       "RLIMIT_NOFILE", why);
    /* RLIMIT_DATA rather than RLIMIT_AS: it counts memory that can be written (heap, anonymous
     * maps, thread stacks), not address space that jemalloc and glibc reserve but never touch.
     * Sanitizer builds skip it: ASan's shadow memory alone is terabytes of private mappings. */
    if (rc == RT_OK && !WK_JAIL_SANITIZER)
        rc = set_limit(RLIMIT_DATA, o->memory ? o->memory : WK_JAIL_DEFAULT_MEMORY, "RLIMIT_DATA",
                       why);
    /* No file can grow: the filter already refuses to open one for writing, and this covers a
     * descriptor that was inherited open. Except when the operator pointed stdout or stderr at a
     * file: the first log line would then kill the child with SIGXFSZ. */
    if (rc == RT_OK && !is_regular_file(STDOUT_FILENO) && !is_regular_file(STDERR_FILENO))
        rc = set_limit(RLIMIT_FSIZE, 0, "RLIMIT_FSIZE", why);
    return rc;
}

/* ---- 3. no new privileges ------------------------------------------------------------------- */

static int set_no_new_privs(char *why) {
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) {
        snprintf(why, WHY_SIZE, "prctl(PR_SET_NO_NEW_PRIVS): %s", strerror(errno));
        return RT_EINTERNAL;
    }
    /* Sanitizer builds stay dumpable: LeakSanitizer stops the process' threads with ptrace from
     * a helper task at exit, which the kernel refuses for a process that is not dumpable. */
    if (!WK_JAIL_SANITIZER && prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0) {
        snprintf(why, WHY_SIZE, "prctl(PR_SET_DUMPABLE): %s", strerror(errno));
        return RT_EINTERNAL;
    }
    return RT_OK;
}

/* ---- 3b. files ------------------------------------------------------------------------------ */

/* Rights of later ABIs than the system's header may know: all are handled (denied unless a rule
 * allows them) when the kernel has them. */
#define LL_FS_TRUNCATE  (1ULL << 14) /* ABI 3 */
#define LL_FS_IOCTL_DEV (1ULL << 15) /* ABI 5 */
#define LL_READ         (LANDLOCK_ACCESS_FS_READ_FILE | LANDLOCK_ACCESS_FS_READ_DIR)

/* What libraries read after the jail: shared libraries (NSS modules the resolver loads), CA
 * bundles for TLS, the resolver's files, time zones, the CPU count, the process' own /proc. A
 * path that does not exist here is skipped. */
/* clang-format off */
static const char *const library_reads[] = {
    "/usr/lib", "/lib", "/lib64", "/usr/lib64", "/etc/ld.so.cache",
    "/etc/ssl", "/etc/pki", "/etc/ca-certificates", "/usr/share/ca-certificates",
    "/usr/local/share/ca-certificates",
    "/etc/resolv.conf", "/etc/hosts", "/etc/host.conf", "/etc/nsswitch.conf", "/etc/gai.conf",
    "/etc/services", "/etc/protocols", "/run/systemd/resolve", "/run/resolvconf",
    "/etc/localtime", "/usr/share/zoneinfo", "/sys/devices/system/cpu", "/dev/null",
    "/dev/urandom", "/proc/self", NULL,
};
/* clang-format on */

int wk_jail_file_abi(const wk_jail_options *o) {
    if (!o->n_read_paths)
        return 0;
    long abi = syscall(SYS_landlock_create_ruleset, NULL, 0, LANDLOCK_CREATE_RULESET_VERSION);
    return abi > 0 ? (int)abi : 0;
}

/* Every file right the kernel's ABI has. */
static uint64_t handled_rights(int abi) {
    uint64_t all = (LANDLOCK_ACCESS_FS_MAKE_SYM << 1) - 1; /* ABI 1: EXECUTE .. MAKE_SYM */
    if (abi >= 2)
        all |= LANDLOCK_ACCESS_FS_REFER;
    if (abi >= 3)
        all |= LL_FS_TRUNCATE;
    if (abi >= 5)
        all |= LL_FS_IOCTL_DEV;
    return all;
}

/* Lets 'ruleset' read beneath 'path' (a file: read it); a path that is not there is skipped. */
static int allow_reading(int ruleset, const char *path, char *why) {
    int fd = open(path, O_PATH | O_CLOEXEC);
    if (fd < 0 && (errno == ENOENT || errno == ENOTDIR || errno == EACCES))
        return RT_OK;
    if (fd < 0) {
        snprintf(why, WHY_SIZE, "landlock: cannot open %s: %s", path, strerror(errno));
        return RT_EINTERNAL;
    }
    struct stat st;
    struct landlock_path_beneath_attr rule = {.parent_fd = fd};
    rule.allowed_access =
        fstat(fd, &st) == 0 && S_ISDIR(st.st_mode) ? LL_READ : LANDLOCK_ACCESS_FS_READ_FILE;
    int rc = (int)syscall(SYS_landlock_add_rule, ruleset, LANDLOCK_RULE_PATH_BENEATH, &rule, 0);
    close(fd);
    if (rc != 0) {
        snprintf(why, WHY_SIZE, "landlock: cannot allow reading %s: %s", path, strerror(errno));
        return RT_EINTERNAL;
    }
    return RT_OK;
}

/* Confines file access to reading the paths of 'o' and library_reads, when 'o' names any and
 * the kernel has Landlock. Needs PR_SET_NO_NEW_PRIVS, and must come before the filter, which
 * has no landlock calls. */
static int confine_files(const wk_jail_options *o, char *why) {
    int abi = wk_jail_file_abi(o);
    if (abi == 0)
        return RT_OK;
    struct landlock_ruleset_attr attr = {.handled_access_fs = handled_rights(abi)};
    int ruleset = (int)syscall(SYS_landlock_create_ruleset, &attr, sizeof attr, 0);
    if (ruleset < 0) {
        snprintf(why, WHY_SIZE, "landlock: cannot make a ruleset: %s", strerror(errno));
        return RT_EINTERNAL;
    }
    int rc = RT_OK;
    for (const char *const *p = library_reads; rc == RT_OK && *p; p++)
        rc = allow_reading(ruleset, *p, why);
    for (size_t i = 0; rc == RT_OK && i < o->n_read_paths; i++)
        rc = allow_reading(ruleset, o->read_paths[i], why);
    const char *const from_env[] = {"SSL_CERT_FILE", "SSL_CERT_DIR", "CURL_CA_BUNDLE", NULL};
    for (const char *const *v = from_env; rc == RT_OK && *v; v++) {
        const char *path = getenv(*v);
        if (path)
            rc = allow_reading(ruleset, path, why);
    }
    if (rc == RT_OK && syscall(SYS_landlock_restrict_self, ruleset, 0) != 0) {
        snprintf(why, WHY_SIZE, "landlock: cannot confine the process: %s", strerror(errno));
        rc = RT_EINTERNAL;
    }
    close(ruleset);
    return rc;
}

/* ---- 4. the seccomp allow-list -------------------------------------------------------------- */

/* One line of the table: a system call, what happens to it, and up to two argument tests that
 * must all hold. A call may appear on several lines: any line that matches decides. */
typedef struct jail_rule {
    int nr;
    uint32_t action;
    unsigned nargs;
    struct scmp_arg_cmp args[2];
} jail_rule;

/* The macros and the table are kept as tables. */
/* clang-format off */
#define ALLOW(name)           {SCMP_SYS(name), SCMP_ACT_ALLOW, 0, {{0}}}
#define ALLOW_IF(name, a)     {SCMP_SYS(name), SCMP_ACT_ALLOW, 1, {a}}
#define ALLOW_IF2(name, a, b) {SCMP_SYS(name), SCMP_ACT_ALLOW, 2, {a, b}}
#define FAIL(name, err)       {SCMP_SYS(name), SCMP_ACT_ERRNO(err), 0, {{0}}}
#define FAIL_IF(name, err, a) {SCMP_SYS(name), SCMP_ACT_ERRNO(err), 1, {a}}
/* clang-format on */

/* Flags that make open write, create or truncate: any of them and the call is not allowed. */
#define WRITE_FLAGS      (O_WRONLY | O_RDWR | O_CREAT | O_TRUNC)
#define SOCKET_TYPE_MASK 0xf /* the type without SOCK_NONBLOCK and SOCK_CLOEXEC */

/* Socket families and types a client needs: TCP and UDP (DNS) over IPv4 and IPv6, and unix
 * sockets (Redis, nscd). */
#define ALLOW_SOCKET(family, type)                                                                 \
    ALLOW_IF2(socket, SCMP_A0_32(SCMP_CMP_EQ, family),                                             \
              SCMP_A1_32(SCMP_CMP_MASKED_EQ, SOCKET_TYPE_MASK, type))

/* Adds the table to 'ctx'. 'self' is the process id, the only target of kill and tgkill. */
static int add_rules(scmp_filter_ctx ctx, pid_t self) {
    /* clang-format off */
    const jail_rule rules[] = {
        /* The event loop (libuv): epoll, the async eventfd, the signal pipe, and poll for curl. */
        ALLOW(epoll_create), ALLOW(epoll_create1), ALLOW(epoll_ctl), ALLOW(epoll_wait),
        ALLOW(epoll_pwait), ALLOW(epoll_pwait2), ALLOW(eventfd), ALLOW(eventfd2),
        ALLOW(timerfd_create), ALLOW(timerfd_settime), ALLOW(timerfd_gettime), ALLOW(pipe),
        ALLOW(pipe2), ALLOW(poll), ALLOW(ppoll), ALLOW(select), ALLOW(pselect6),
        /* libuv 1.45+ tries io_uring first and falls back to epoll on ENOSYS; io_uring would
         * also let a process make calls the filter never sees. */
        FAIL(io_uring_setup, ENOSYS), FAIL(io_uring_enter, ENOSYS),
        FAIL(io_uring_register, ENOSYS),

        /* I/O on descriptors the process already holds (sockets, pipes, read-only files; the
         * inherited stdout and stderr for logs). */
        ALLOW(read), ALLOW(readv), ALLOW(pread64), ALLOW(preadv), ALLOW(write), ALLOW(writev),
        ALLOW(close), ALLOW(dup), ALLOW(dup2), ALLOW(dup3), ALLOW(lseek),
        /* fcntl for flags, duplicates and locks. Not F_SETOWN, F_SETOWN_EX or F_SETSIG: with
         * O_ASYNC they make the kernel send a signal of the caller's choice to any process of
         * its user whenever a descriptor becomes ready, around the rule for kill below. */
        ALLOW_IF(fcntl, SCMP_A1_32(SCMP_CMP_EQ, F_GETFD)),
        ALLOW_IF(fcntl, SCMP_A1_32(SCMP_CMP_EQ, F_SETFD)),
        ALLOW_IF(fcntl, SCMP_A1_32(SCMP_CMP_EQ, F_GETFL)),
        ALLOW_IF(fcntl, SCMP_A1_32(SCMP_CMP_EQ, F_SETFL)),
        ALLOW_IF(fcntl, SCMP_A1_32(SCMP_CMP_EQ, F_DUPFD)),
        ALLOW_IF(fcntl, SCMP_A1_32(SCMP_CMP_EQ, F_DUPFD_CLOEXEC)),
        ALLOW_IF(fcntl, SCMP_A1_32(SCMP_CMP_EQ, F_GETLK)),
        ALLOW_IF(fcntl, SCMP_A1_32(SCMP_CMP_EQ, F_SETLK)),
        ALLOW_IF(fcntl, SCMP_A1_32(SCMP_CMP_EQ, F_SETLKW)),
        ALLOW_IF(fcntl, SCMP_A1_32(SCMP_CMP_EQ, F_OFD_GETLK)),
        ALLOW_IF(fcntl, SCMP_A1_32(SCMP_CMP_EQ, F_OFD_SETLK)),
        ALLOW_IF(fcntl, SCMP_A1_32(SCMP_CMP_EQ, F_OFD_SETLKW)),
        /* ioctl only to make a descriptor non-blocking or close-on-exec (libuv does both with
         * ioctl) and to ask how much is readable; isatty()'s TCGETS is told "not a terminal". */
        ALLOW_IF(ioctl, SCMP_A1_32(SCMP_CMP_EQ, FIONBIO)),
        ALLOW_IF(ioctl, SCMP_A1_32(SCMP_CMP_EQ, FIONREAD)),
        ALLOW_IF(ioctl, SCMP_A1_32(SCMP_CMP_EQ, FIOCLEX)),
        ALLOW_IF(ioctl, SCMP_A1_32(SCMP_CMP_EQ, FIONCLEX)),
        FAIL_IF(ioctl, ENOTTY, SCMP_A1_32(SCMP_CMP_EQ, TCGETS)),

        /* Network, as a client only: Redis, connectors and the DNS resolver connect out. A worker
         * child never serves anything, so bind, listen and accept are not here. */
        ALLOW_SOCKET(AF_INET, SOCK_STREAM), ALLOW_SOCKET(AF_INET, SOCK_DGRAM),
        ALLOW_SOCKET(AF_INET6, SOCK_STREAM), ALLOW_SOCKET(AF_INET6, SOCK_DGRAM),
        ALLOW_SOCKET(AF_UNIX, SOCK_STREAM), ALLOW_SOCKET(AF_UNIX, SOCK_DGRAM),
        /* glibc's getaddrinfo opens a netlink socket to sort addresses (RFC 3484) and copes when
         * it cannot: refused rather than killed, or the first multi-address lookup would kill
         * the child. Other families (AF_PACKET, ...) and raw sockets kill. */
        FAIL_IF(socket, EPERM, SCMP_A0_32(SCMP_CMP_EQ, AF_NETLINK)),
        ALLOW_IF(socketpair, SCMP_A0_32(SCMP_CMP_EQ, AF_UNIX)), /* curl's resolver wake-up */
        ALLOW(connect), ALLOW(shutdown), ALLOW(sendto), ALLOW(recvfrom), ALLOW(sendmsg),
        ALLOW(recvmsg), ALLOW(sendmmsg), ALLOW(recvmmsg), ALLOW(getsockopt), ALLOW(setsockopt),
        ALLOW(getsockname), ALLOW(getpeername),

        /* Files, read only: analyzers reloaded on SIGHUP, CA bundles for TLS, /etc files for the
         * resolver, NSS modules. No flag that writes, creates or truncates. */
        ALLOW_IF(open, SCMP_A1_32(SCMP_CMP_MASKED_EQ, WRITE_FLAGS, 0)),
        ALLOW_IF(openat, SCMP_A2_32(SCMP_CMP_MASKED_EQ, WRITE_FLAGS, 0)),
        FAIL(openat2, ENOSYS), /* its flags are in a struct the filter cannot read */
        ALLOW(stat), ALLOW(lstat), ALLOW(fstat), ALLOW(newfstatat), ALLOW(statx), ALLOW(statfs),
        ALLOW(fstatfs), ALLOW(getdents), ALLOW(getdents64), ALLOW(readlink), ALLOW(readlinkat),
        ALLOW(access), ALLOW(faccessat), ALLOW(faccessat2), ALLOW(getcwd),

        /* Memory: glibc malloc, jemalloc and Lua map, unmap, grow and advise. PROT_EXEC stays
         * allowed because NSS modules may be loaded by the resolver after the jail. */
        ALLOW(brk), ALLOW(mmap), ALLOW(munmap), ALLOW(mremap), ALLOW(mprotect), ALLOW(madvise),

        /* Threads (libcurl's threaded resolver, libuv's pool), never processes: clone only with
         * CLONE_THREAD. glibc tries clone3 first, whose flags sit in a struct the filter cannot
         * read, so it gets ENOSYS and glibc falls back to clone. */
        ALLOW_IF(clone, SCMP_A0_64(SCMP_CMP_MASKED_EQ, CLONE_THREAD, CLONE_THREAD)),
        FAIL(clone3, ENOSYS), ALLOW(set_robust_list), ALLOW(rseq), ALLOW(futex),
        ALLOW(sched_yield), ALLOW(sched_getaffinity), ALLOW(exit),

        /* Time and sleeping. */
        ALLOW(clock_gettime), ALLOW(clock_getres), ALLOW(gettimeofday), ALLOW(time),
        ALLOW(nanosleep), ALLOW(clock_nanosleep),

        /* Signals: handlers, masks, the alternate stack, and signals to this process only
         * (raise, abort; libuv's signal pipe). Never to the supervisor or the siblings. */
        ALLOW(rt_sigaction), ALLOW(rt_sigprocmask), ALLOW(rt_sigreturn), ALLOW(sigaltstack),
        ALLOW(restart_syscall), ALLOW_IF(kill, SCMP_A0_32(SCMP_CMP_EQ, (uint32_t)self)),
        ALLOW_IF(tgkill, SCMP_A0_32(SCMP_CMP_EQ, (uint32_t)self)),

        /* Facts about the process, read only. prlimit64 only without a new limit (getrlimit). */
        ALLOW(getpid), ALLOW(getppid), ALLOW(gettid), ALLOW(getuid), ALLOW(geteuid),
        ALLOW(getgid), ALLOW(getegid), ALLOW(getresuid), ALLOW(getresgid), ALLOW(getgroups),
        ALLOW(uname), ALLOW(getrandom), ALLOW(getrlimit), ALLOW(getrusage), ALLOW(sysinfo),
        ALLOW_IF(prlimit64, SCMP_A2_64(SCMP_CMP_EQ, 0)),
        /* The set*id family answers what the kernel answers an unprivileged process anyway. */
        FAIL(setuid, EPERM), FAIL(setgid, EPERM), FAIL(setreuid, EPERM), FAIL(setregid, EPERM),
        FAIL(setresuid, EPERM), FAIL(setresgid, EPERM), FAIL(setgroups, EPERM),
        FAIL(setfsuid, EPERM), FAIL(setfsgid, EPERM),

        ALLOW(exit_group),

#if WK_JAIL_SANITIZER
        /* Sanitizer builds only. LeakSanitizer checks at exit from a helper task made with
         * clone(CLONE_VM) without CLONE_THREAD, which lists the threads (getdents), stops them
         * with ptrace, waits for them and may name itself the tracer with prctl. fork (no
         * CLONE_VM) stays denied. */
        ALLOW_IF(clone, SCMP_A0_64(SCMP_CMP_MASKED_EQ, CLONE_VM, CLONE_VM)), ALLOW(ptrace),
        ALLOW(wait4), ALLOW(prctl), ALLOW(sched_getparam), ALLOW(sched_getscheduler),
#endif
    };
    /* clang-format on */
    /* Everything else is denied by the default action, among them: execve, execveat, fork,
     * vfork, ptrace, process_vm_readv/writev, mount, umount2, chroot, pivot_root, kexec_load,
     * bpf, perf_event_open, init_module, keyctl, add_key, userfaultfd, unshare, setns, unlink,
     * rename, mkdir, rmdir, chmod, chown, link, symlink and their *at forms, truncate, bind,
     * listen, accept, prctl, setrlimit, setpriority, and fcntl's other commands. */
    for (size_t i = 0; i < sizeof rules / sizeof rules[0]; i++) {
        const jail_rule *r = &rules[i];
        if (r->nr < 0)
            continue; /* not a system call of this architecture: nothing to allow */
        int rc = seccomp_rule_add_array(ctx, r->action, r->nr, r->nargs, r->args);
        if (rc < 0)
            return rc;
    }
    return 0;
}

static int load_filter(char *why) {
    scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_KILL_PROCESS);
    if (!ctx) {
        snprintf(why, WHY_SIZE, "seccomp_init failed");
        return RT_EINTERNAL;
    }
    int rc = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_TSYNC, 1);
    if (rc == 0)
        rc = add_rules(ctx, getpid());
    if (rc == 0)
        rc = seccomp_load(ctx);
    seccomp_release(ctx);
    if (rc < 0) {
        snprintf(why, WHY_SIZE, "cannot load the seccomp filter: %s", strerror(-rc));
        return RT_EINTERNAL;
    }
    return RT_OK;
}

int wk_jail_enter(const wk_jail_options *o, char *why) {
    static const wk_jail_options defaults = {0};
    if (!o)
        o = &defaults;
    why[0] = '\0';
    scrub_environment();
    int rc = drop_privileges(o, why);
    if (rc == RT_OK)
        rc = set_limits(o, why);
    if (rc == RT_OK)
        rc = set_no_new_privs(why);
    if (rc == RT_OK)
        rc = confine_files(o, why);
    if (rc == RT_OK)
        rc = load_filter(why);
    return rc;
}
