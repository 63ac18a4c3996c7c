/* tests/unit/test_supervisor.c -- the process sandbox (wk_jail.c) and the worker supervisor
 * (wk_supervisor.c), each in processes the test forks: what a jailed child may not do (it dies
 * with SIGSYS, or is refused), what it still must do (files, TCP, threads, memory, a uv loop),
 * its rlimits and identity; restarts, reload, drain, the drain timeout and the backoff.
 * Processes talk to the test through pipes read with poll timeouts, never through sleeps. */
#define _GNU_SOURCE /* syscall numbers, pipe2 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>
#include <curl/curl.h>
#include <uv.h>
#include "rt.h"
#include "wk.h"
#include "wk_jail.h"
#include "wk_supervisor.h"

#define TIMEOUT_MS  5000
#define JAIL_MEMORY ((size_t)512 << 20)
#define JAIL_FILES  256

static char scratch[64]; /* a folder the jailed children are tested against */
static char readable[128], writable[128];

/* ---- reading from children ------------------------------------------------------------------ */

typedef struct reader {
    int fd;
    char buf[8192];
    size_t len;
} reader;

/* The next line from 'r' without its newline, or NULL after TIMEOUT_MS or at end of input. */
static const char *next_line(reader *r, char *out, size_t cap) {
    for (;;) {
        char *nl = memchr(r->buf, '\n', r->len);
        if (nl) {
            size_t n = (size_t)(nl - r->buf);
            snprintf(out, cap, "%.*s", (int)n, r->buf);
            memmove(r->buf, nl + 1, r->len - n - 1);
            r->len -= n + 1;
            return out;
        }
        struct pollfd p = {.fd = r->fd, .events = POLLIN};
        if (r->len == sizeof r->buf || poll(&p, 1, TIMEOUT_MS) != 1)
            return NULL;
        ssize_t got = read(r->fd, r->buf + r->len, sizeof r->buf - r->len);
        if (got <= 0)
            return NULL;
        r->len += (size_t)got;
    }
}

/* Reads everything until the writers are gone into 'out'. Returns 0 when they went quiet for
 * TIMEOUT_MS instead. */
static int read_all(int fd, char *out, size_t cap) {
    reader r = {.fd = fd};
    char line[512];
    size_t len = 0;
    out[0] = '\0';
    while (next_line(&r, line, sizeof line))
        len += (size_t)snprintf(out + len, len < cap ? cap - len : 0, "%s\n", line);
    struct pollfd p = {.fd = fd, .events = POLLIN};
    return poll(&p, 1, 0) == 1 && read(fd, line, 1) == 0;
}

/* ---- jailed children ------------------------------------------------------------------------ */

static int is_root(void) {
    return geteuid() == 0;
}

/* The jail of the tests that must see a forbidden call fail: allowed to stay root when the test
 * runs as root, so that without the filter every attempt would succeed. */
static wk_jail_options root_jail(void) {
    return (wk_jail_options){.allow_root = 1, .memory = JAIL_MEMORY, .open_files = JAIL_FILES};
}

/* What a jailed child here reads after the jail, as a worker names its analyzer folders: the
 * scratch folder and the examples (the analysis of try_worker_work). */
static const char *jail_reads[2];

/* The jail of production: as "nobody" when the test runs as root, reading only jail_reads. */
static wk_jail_options user_jail(void) {
    return (wk_jail_options){.user = "nobody",
                             .memory = JAIL_MEMORY,
                             .open_files = JAIL_FILES,
                             .read_paths = jail_reads,
                             .n_read_paths = 2};
}

typedef struct outcome {
    int status;      /* waitpid status */
    char text[8192]; /* what the child wrote */
} outcome;

/* Forks a child that enters the jail 'o' and then calls 'attempt'('out'), which writes what it
 * did to 'out'. The child writes "jailed" first, so a death is known to come after the jail. */
static void run_jailed(wk_jail_options o, void (*attempt)(int out), outcome *result) {
    int fds[2];
    assert_int_equal(pipe2(fds, O_CLOEXEC), 0);
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(fds[0]);
        char why[256];
        int rc = wk_jail_enter(&o, why);
        if (rc != RT_OK) {
            dprintf(fds[1], "jail failed: %s\n", why);
            _exit(90);
        }
        dprintf(fds[1], "jailed\n");
        attempt(fds[1]);
        exit(0); /* exit, not _exit: LeakSanitizer runs inside the jail in sanitizer builds */
    }
    close(fds[1]);
    if (!read_all(fds[0], result->text, sizeof result->text))
        kill(pid, SIGKILL); /* hung: the status then says so */
    close(fds[0]);
    assert_int_equal(waitpid(pid, &result->status, 0), pid);
}

static void assert_killed_by_filter(void (*attempt)(int out)) {
    outcome r;
    run_jailed(root_jail(), attempt, &r);
    if (!WIFSIGNALED(r.status) || WTERMSIG(r.status) != SIGSYS)
        print_error("child ended with status 0x%x, wrote:\n%s", r.status, r.text);
    assert_true(WIFSIGNALED(r.status));
    assert_int_equal(WTERMSIG(r.status), SIGSYS);
    assert_non_null(strstr(r.text, "jailed\n"));
    assert_null(strstr(r.text, "survived"));
}

static void try_execve(int out) {
    char *argv[] = {(char *)"/bin/true", NULL};
    execve(argv[0], argv, environ);
    dprintf(out, "survived execve: %s\n", strerror(errno));
}

static void try_fork(int out) {
    pid_t pid = fork();
    if (pid == 0)
        _exit(0);
    dprintf(out, "survived fork: %d\n", (int)pid);
}

static void try_open_write(int out) {
    int fd = open(writable, O_WRONLY | O_CREAT, 0600);
    dprintf(out, "survived open for writing: %d\n", fd);
}

static void try_openat_rdwr(int out) {
    int fd = openat(AT_FDCWD, readable, O_RDWR);
    dprintf(out, "survived openat O_RDWR: %d\n", fd);
}

static void try_open_truncate(int out) {
    int fd = open(readable, O_RDONLY | O_TRUNC);
    dprintf(out, "survived open O_TRUNC: %d\n", fd);
}

static void try_unlink(int out) {
    dprintf(out, "survived unlink: %d\n", unlink(readable));
}

static void try_mkdir(int out) {
    dprintf(out, "survived mkdir: %d\n", mkdir(writable, 0700));
}

static void try_packet_socket(int out) {
    dprintf(out, "survived socket(AF_PACKET): %d\n", socket(AF_PACKET, SOCK_RAW, 0));
}

static void try_raw_socket(int out) {
    dprintf(out, "survived socket(SOCK_RAW): %d\n", socket(AF_INET, SOCK_RAW, IPPROTO_ICMP));
}

static void try_bind(int out) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    dprintf(out, "socket %d\n", fd); /* allowed: the death below is bind's */
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    dprintf(out, "survived bind: %d\n", bind(fd, (struct sockaddr *)&a, sizeof a));
}

static void try_listen(int out) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    dprintf(out, "survived listen: %d\n", listen(fd, 1)); /* would bind a free port */
}

static void try_kill_parent(int out) {
    dprintf(out, "survived kill(parent): %d\n", kill(getppid(), 0));
}

/* Around the rule for kill: a socket's owner gets the signal its I/O raises (F_SETSIG). */
static void try_fcntl_setown(int out) {
    int pair[2];
    dprintf(out, "socketpair %d\n", socketpair(AF_UNIX, SOCK_STREAM, 0, pair));
    dprintf(out, "survived F_SETOWN: %d\n", fcntl(pair[0], F_SETOWN, (int)getppid()));
}

static void try_fcntl_setsig(int out) {
    int pair[2];
    dprintf(out, "socketpair %d\n", socketpair(AF_UNIX, SOCK_STREAM, 0, pair));
    dprintf(out, "survived F_SETSIG: %d\n", fcntl(pair[0], F_SETSIG, SIGKILL));
}

static void try_raise_limit(int out) {
    struct rlimit lim = {JAIL_FILES * 2, JAIL_FILES * 2};
    dprintf(out, "survived setrlimit: %d\n", setrlimit(RLIMIT_NOFILE, &lim));
}

static void try_ptrace(int out) {
    dprintf(out, "survived ptrace: %ld\n", ptrace(PTRACE_TRACEME, 0, NULL, NULL));
}

static void try_dumpable(int out) {
    dprintf(out, "survived prctl: %d\n", prctl(PR_SET_DUMPABLE, 1, 0, 0, 0));
}

static void try_unshare(int out) {
    dprintf(out, "survived unshare: %d\n", unshare(CLONE_NEWUSER));
}

static void test_jail_kills_forbidden_calls(void **state) {
    (void)state;
    assert_killed_by_filter(try_execve);
    assert_killed_by_filter(try_fork);
    assert_killed_by_filter(try_open_write);
    assert_killed_by_filter(try_openat_rdwr);
    assert_killed_by_filter(try_open_truncate);
    assert_killed_by_filter(try_unlink);
    assert_killed_by_filter(try_mkdir);
    assert_killed_by_filter(try_packet_socket);
    assert_killed_by_filter(try_raw_socket);
    assert_killed_by_filter(try_bind);
    assert_killed_by_filter(try_listen);
    assert_killed_by_filter(try_kill_parent);
    assert_killed_by_filter(try_fcntl_setown);
    assert_killed_by_filter(try_fcntl_setsig);
    assert_killed_by_filter(try_raise_limit);
    assert_killed_by_filter(try_unshare);
    if (!WK_JAIL_SANITIZER) { /* LeakSanitizer needs both (wk_jail.c) */
        assert_killed_by_filter(try_ptrace);
        assert_killed_by_filter(try_dumpable);
    }
    struct stat st;
    assert_int_equal(stat(writable, &st), -1); /* nothing was created after all */
    assert_int_equal(stat(readable, &st), 0);
    assert_int_equal((int)st.st_size, 11); /* nor truncated */
}

/* Calls that libraries probe and whose failure they handle get an errno, not a death. */
static void try_refused_calls(int out) {
    errno = 0;
    int fd = socket(AF_NETLINK, SOCK_RAW, 0);
    dprintf(out, "netlink %d %s\n", fd, strerrorname_np(errno));
    errno = 0;
    int rc = setuid(0);
    dprintf(out, "setuid %d %s\n", rc, strerrorname_np(errno));
    errno = 0;
    rc = (int)syscall(SYS_clone3, NULL, 0);
    dprintf(out, "clone3 %d %s\n", rc, strerrorname_np(errno));
    dprintf(out, "isatty %d\n", isatty(STDERR_FILENO));
}

static void test_jail_refuses_probed_calls(void **state) {
    (void)state;
    outcome r;
    run_jailed(root_jail(), try_refused_calls, &r);
    if (!WIFEXITED(r.status))
        print_error("status 0x%x, wrote:\n%s", r.status, r.text);
    assert_true(WIFEXITED(r.status));
    assert_int_equal(WEXITSTATUS(r.status), 0);
    assert_non_null(strstr(r.text, "netlink -1 EPERM\n"));
    assert_non_null(strstr(r.text, "setuid -1 EPERM\n"));
    assert_non_null(strstr(r.text, "clone3 -1 ENOSYS\n"));
    assert_non_null(strstr(r.text, "isatty 0\n"));
}

/* The environment after the jail: what getenv sees, and whether /proc/self/environ (the text
 * the process was started with) still holds PATH. */
static void report_environment(int out) {
    const char *secret = getenv("INQUEST_TEST_SECRET"), *tz = getenv("TZ");
    dprintf(out, "secret %s\ntz %s\npath %s\n", secret ? secret : "(none)", tz ? tz : "(none)",
            getenv("PATH") ? "set" : "(none)");
    char text[65536];
    int fd = open("/proc/self/environ", O_RDONLY | O_CLOEXEC);
    ssize_t n = fd >= 0 ? read(fd, text, sizeof text) : -1;
    int found = 0;
    for (ssize_t i = 0; i + 5 <= n; i++)
        found |= (i == 0 || text[i - 1] == '\0') && memcmp(text + i, "PATH=", 5) == 0;
    dprintf(out, "environ read %d, PATH in it %d\n", n > 0, found);
    close(fd);
}

/* The jail removes the environment (a worker's may hold serve's tokens or connector secrets)
 * but for what libraries read, and zeroes the text the process started with. */
static void test_jail_clears_environment(void **state) {
    (void)state;
    assert_non_null(getenv("PATH")); /* the test's own environment has it */
    const char *tz = getenv("TZ");
    char *saved_tz = tz ? strdup(tz) : NULL;
    setenv("INQUEST_TEST_SECRET", "s3cr3t-value", 1);
    setenv("TZ", "UTC", 1);
    outcome r;
    run_jailed(root_jail(), report_environment, &r);
    unsetenv("INQUEST_TEST_SECRET");
    if (saved_tz)
        setenv("TZ", saved_tz, 1);
    else
        unsetenv("TZ");
    free(saved_tz);
    if (!WIFEXITED(r.status) || WEXITSTATUS(r.status) != 0)
        print_error("status 0x%x, wrote:\n%s", r.status, r.text);
    assert_true(WIFEXITED(r.status));
    assert_non_null(strstr(r.text, "secret (none)\n"));
    assert_non_null(strstr(r.text, "tz UTC\n"));
    assert_non_null(strstr(r.text, "path (none)\n"));
    assert_non_null(strstr(r.text, "environ read 1, PATH in it 0\n"));
}

/* ---- what a jailed worker must still do ----------------------------------------------------- */

static int loopback_port; /* a listener the test opened; the child connects to it */

static void *thread_main(void *arg) {
    return (char *)arg + 1;
}

static void on_timer(uv_timer_t *timer) {
    (*(int *)timer->data)++;
}

static void on_usr1(int sig) {
    (void)sig;
}

static void step(int out, const char *name, int ok) {
    dprintf(out, "%s %s\n", ok ? "ok" : "FAILED", name);
}

static int read_file_back(void) {
    char buf[64] = {0};
    int fd = open(readable, O_RDONLY | O_CLOEXEC);
    ssize_t n = fd >= 0 ? read(fd, buf, sizeof buf - 1) : -1;
    if (fd >= 0)
        close(fd);
    return n == 11 && strcmp(buf, "hello jail\n") == 0;
}

static int connect_loopback(void) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)loopback_port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int ok = fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
             write(fd, "hi from jail", 12) == 12;
    if (fd >= 0)
        close(fd);
    return ok;
}

static int run_thread(void) {
    static char text[] = "x";
    pthread_t t;
    void *back = NULL;
    return pthread_create(&t, NULL, thread_main, text) == 0 && pthread_join(t, &back) == 0 &&
           back == text + 1;
}

static int use_memory(void) {
    size_t size = (size_t)100 << 20;
    char *p = malloc(size);
    if (!p)
        return 0;
    memset(p, 0x5a, size); /* touched, not only reserved */
    int ok = p[size - 1] == 0x5a;
    free(p);
    return ok;
}

static int run_uv_timer(void) {
    uv_loop_t loop;
    uv_timer_t timer;
    int fired = 0;
    if (uv_loop_init(&loop) != 0)
        return 0;
    uv_timer_init(&loop, &timer);
    timer.data = &fired;
    uv_timer_start(&timer, on_timer, 10, 0);
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_close((uv_handle_t *)&timer, NULL);
    uv_run(&loop, UV_RUN_DEFAULT);
    return uv_loop_close(&loop) == 0 && fired == 1;
}

static int resolve_localhost(void) {
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res = NULL;
    int rc = getaddrinfo("localhost", "6379", &hints, &res);
    freeaddrinfo(res);
    return rc == 0;
}

/* libcurl as connectors use it: its threaded resolver looks "localhost" up in a thread, then it
 * connects; curl is first initialised here, inside the jail, so OpenSSL's setup is covered. */
static int curl_connect_localhost(void) {
    char url[64];
    snprintf(url, sizeof url, "http://localhost:%d/", loopback_port);
    CURL *curl = curl_easy_init();
    if (!curl)
        return 0;
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_CONNECT_ONLY, 1L);
    curl_easy_setopt(curl, CURLOPT_IPRESOLVE, (long)CURL_IPRESOLVE_V4);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT, 3L);
    CURLcode rc = curl_easy_perform(curl);
    curl_easy_cleanup(curl);
    return rc == CURLE_OK;
}

/* The engine itself: a fresh Lua state runs the example analyzer to its conclusion. */
static int run_analysis(void) {
    const char *root = TESTS_DIR "/sdk/analyzers";
    wk_engine *engine = wk_engine_new(&root, 1);
    json_t *inputs = json_pack("{s:s, s:s}", "service", "checkout", "window", "30m");
    wk_request request = {.analyzer = TESTS_DIR "/../examples/hello/hello.lua",
                          .inputs = inputs,
                          .id = "jailed",
                          .now = 1795262400};
    wk_limits_default(&request.limits);
    json_t *result = NULL;
    rt_diag diag = {0};
    int ok = wk_run(engine, &request, &result, &diag) == RT_OK &&
             strcmp(json_string_value(json_object_get(result, "status")), "ok") == 0;
    json_decref(result);
    json_decref(inputs);
    rt_diag_free(&diag);
    wk_engine_free(engine);
    return ok;
}

static int limit_is(int resource, rlim_t value) {
    struct rlimit lim;
    return getrlimit(resource, &lim) == 0 && lim.rlim_cur == value && lim.rlim_max == value;
}

static int writes_to_file(int fd) {
    struct stat st;
    return fstat(fd, &st) == 0 && S_ISREG(st.st_mode);
}

static void try_worker_work(int out) {
    step(out, "read file", read_file_back());
    step(out, "connect loopback", connect_loopback());
    step(out, "thread", run_thread());
    step(out, "100 MB", use_memory());
    step(out, "uv timer", run_uv_timer());
    step(out, "resolve", resolve_localhost());
    step(out, "curl", curl_connect_localhost());
    step(out, "analysis", run_analysis());
    signal(SIGUSR1, on_usr1);
    step(out, "raise", raise(SIGUSR1) == 0);
    step(out, "not root", !is_root() || (getuid() != 0 && geteuid() != 0));
    step(out, "rlimit core", limit_is(RLIMIT_CORE, 0));
    step(out, "rlimit nofile", limit_is(RLIMIT_NOFILE, JAIL_FILES));
    /* A file on stdout or stderr keeps RLIMIT_FSIZE unlimited (wk_jail.c says why). */
    int logs_to_file = writes_to_file(STDOUT_FILENO) || writes_to_file(STDERR_FILENO);
    step(out, "rlimit fsize", logs_to_file || limit_is(RLIMIT_FSIZE, 0));
    if (!WK_JAIL_SANITIZER) { /* ASan's shadow memory is exempt from the cap (wk_jail.c) */
        step(out, "rlimit data", limit_is(RLIMIT_DATA, JAIL_MEMORY));
        void *big = malloc((size_t)1 << 30);
        step(out, "1 GiB refused", big == NULL);
        free(big);
    }
    /* prctl itself is not allowed: the kernel's account of the process says it instead. */
    char status[4096] = {0};
    int fd = open("/proc/self/status", O_RDONLY | O_CLOEXEC);
    ssize_t n = fd >= 0 ? read(fd, status, sizeof status - 1) : -1;
    if (fd >= 0)
        close(fd);
    step(out, "no new privs", n > 0 && strstr(status, "\nNoNewPrivs:\t1\n"));
    step(out, "seccomp filter", n > 0 && strstr(status, "\nSeccomp:\t2\n"));
}

/* What a jailed child may read: the file in the scratch folder, which it names, but not
 * /etc/passwd, which any user may read. */
static void try_reading(int out) {
    dprintf(out, "scratch %d\n", read_file_back());
    errno = 0;
    int fd = open("/etc/passwd", O_RDONLY | O_CLOEXEC);
    dprintf(out, "passwd %d %s\n", fd >= 0, fd >= 0 ? "" : strerrorname_np(errno));
}

/* Files beyond the paths the jail was given (and those libraries read) cannot be read, even
 * those the user may read: Landlock, when the kernel has it. */
static void test_jail_confines_reading(void **state) {
    (void)state;
    wk_jail_options jail = user_jail();
    if (wk_jail_file_abi(&jail) == 0) {
        print_message("skipped: this kernel has no Landlock\n");
        return;
    }
    outcome r;
    run_jailed(jail, try_reading, &r);
    if (!WIFEXITED(r.status) || WEXITSTATUS(r.status) != 0)
        print_error("status 0x%x, wrote:\n%s", r.status, r.text);
    assert_true(WIFEXITED(r.status));
    assert_non_null(strstr(r.text, "scratch 1\n"));
    assert_non_null(strstr(r.text, "passwd 0 EACCES\n"));
}

static int open_listener(void) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(listen(fd, 4), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    loopback_port = ntohs(a.sin_port);
    return fd;
}

static void test_jail_lets_worker_work(void **state) {
    (void)state;
    int listener = open_listener();
    outcome r;
    run_jailed(user_jail(), try_worker_work, &r);
    if (!WIFEXITED(r.status) || WEXITSTATUS(r.status) != 0 || strstr(r.text, "FAILED"))
        print_error("status 0x%x, wrote:\n%s", r.status, r.text);
    assert_true(WIFEXITED(r.status));
    assert_int_equal(WEXITSTATUS(r.status), 0);
    assert_null(strstr(r.text, "FAILED"));
    const char *steps[] = {"read file",    "connect loopback", "thread",        "100 MB",
                           "uv timer",     "resolve",          "curl",          "analysis",
                           "raise",        "not root",         "rlimit core",   "rlimit nofile",
                           "rlimit fsize", "no new privs",     "seccomp filter"};
    for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++) {
        char want[64];
        snprintf(want, sizeof want, "ok %s\n", steps[i]);
        assert_non_null(strstr(r.text, want));
    }
    if (!WK_JAIL_SANITIZER) {
        assert_non_null(strstr(r.text, "ok rlimit data\n"));
        assert_non_null(strstr(r.text, "ok 1 GiB refused\n"));
    }
    /* The bytes the child sent really arrived. */
    int conn = accept(listener, NULL, NULL);
    assert_true(conn >= 0);
    char buf[32] = {0};
    assert_int_equal(read(conn, buf, sizeof buf - 1), 12);
    assert_string_equal(buf, "hi from jail");
    close(conn);
    close(listener);
}

/* ---- identity ------------------------------------------------------------------------------- */

static void report_identity(int out) {
    uid_t ru, eu, su;
    gid_t rg, eg, sg, groups[64];
    getresuid(&ru, &eu, &su);
    getresgid(&rg, &eg, &sg);
    int n = getgroups(64, groups), root_group = 0;
    for (int i = 0; i < n; i++)
        root_group |= groups[i] == 0;
    errno = 0;
    int rc = setuid(0);
    dprintf(out, "uid %d %d %d gid %d %d %d root_group %d setuid %d %d\n", (int)ru, (int)eu,
            (int)su, (int)rg, (int)eg, (int)sg, root_group, rc, errno);
}

static void test_jail_drops_root(void **state) {
    (void)state;
    if (!is_root())
        skip(); /* only root has privileges to drop */
    outcome r;
    run_jailed(user_jail(), report_identity, &r);
    assert_true(WIFEXITED(r.status));
    int ru, eu, su, rg, eg, sg, root_group, rc, err;
    const char *line = strstr(r.text, "uid ");
    assert_non_null(line);
    assert_int_equal(sscanf(line, "uid %d %d %d gid %d %d %d root_group %d setuid %d %d", &ru, &eu,
                            &su, &rg, &eg, &sg, &root_group, &rc, &err),
                     9);
    assert_int_equal(ru, 65534);
    assert_int_equal(eu, 65534);
    assert_int_equal(su, 65534); /* the saved uid too: root cannot come back */
    assert_int_not_equal(rg, 0);
    assert_int_not_equal(eg, 0);
    assert_int_not_equal(sg, 0);
    assert_int_equal(root_group, 0);
    assert_int_equal(rc, -1);
    assert_int_equal(err, EPERM);
}

static void test_jail_refuses_root_without_user(void **state) {
    (void)state;
    if (!is_root())
        skip();
    char why[256];
    wk_jail_options o = {0};
    /* Refusals come before any change to the process: safe to try in the test itself. */
    assert_int_equal(wk_jail_enter(&o, why), RT_EUSAGE);
    assert_non_null(strstr(why, "root"));
    o.user = "no-such-user-inquest";
    assert_int_equal(wk_jail_enter(&o, why), RT_EUSAGE);
    assert_non_null(strstr(why, "no-such-user-inquest"));
    assert_int_equal(getuid(), 0);
}

/* ---- the supervisor ------------------------------------------------------------------------- */

/* How the supervised children behave, and where they report: "start|term|hup SLOT PID". */
typedef struct child_conf {
    int report;       /* write end of the report pipe */
    int events;       /* write end of the event pipe (the supervisor's on_event) */
    int exit_at_once; /* child_main returns 3 at once */
    int stubborn;     /* reports SIGTERM but does not drain */
    int json_log;     /* the supervisor logs its events as JSON lines on stderr (the pipe) */
} child_conf;

typedef struct child_state {
    child_conf *conf;
    int slot;
    wk_child_signals signals;
} child_state;

static void child_report(child_state *c, const char *what) {
    dprintf(c->conf->report, "%s %d %d\n", what, c->slot, (int)getpid());
}

static void child_on_term(void *ud) {
    child_state *c = ud;
    child_report(c, "term");
    if (!c->conf->stubborn)
        wk_supervisor_child_signals_close(&c->signals); /* drained: nothing in flight */
}

static void child_on_hup(void *ud) {
    child_report(ud, "hup");
}

/* A worker child in miniature: jailed, its own loop, listening for drain and reload. */
static int child_main(int slot, void *ud) {
    child_state c = {.conf = ud, .slot = slot};
    if (c.conf->exit_at_once)
        return 3;
    char why[256];
    wk_jail_options jail = user_jail();
    if (wk_jail_enter(&jail, why) != RT_OK) {
        dprintf(c.conf->report, "jail failed %s\n", why);
        return 90;
    }
    uv_loop_t loop;
    uv_loop_init(&loop);
    if (wk_supervisor_child_signals(&c.signals, &loop, child_on_term, child_on_hup, &c) != RT_OK)
        return 91;
    child_report(&c, "start");
    uv_run(&loop, UV_RUN_DEFAULT);
    return uv_loop_close(&loop) == 0 ? 0 : 92;
}

static void write_event(const wk_supervisor_event *e, void *ud) {
    child_conf *conf = ud;
    dprintf(conf->events, "%d %d %d %d %d %.3f\n", (int)e->kind, e->slot, (int)e->pid, e->status,
            e->signal, e->restart_in);
}

typedef struct supervised {
    pid_t pid;
    reader reports, events;
    pid_t children[8];
} supervised;

/* The supervisor of the running test; global so that the teardown finds it after a failure. */
static supervised sup;

/* Forks a process that runs wk_supervise with 'o' and children behaving as 'conf' says. */
static void start_supervisor(supervised *s, wk_supervisor_options o, child_conf conf) {
    int reports[2], events[2];
    memset(s, 0, sizeof *s);
    assert_int_equal(pipe2(reports, O_CLOEXEC), 0);
    assert_int_equal(pipe2(events, O_CLOEXEC), 0);
    fflush(NULL);
    s->pid = fork();
    assert_true(s->pid >= 0);
    if (s->pid == 0) {
        close(reports[0]);
        close(events[0]);
        conf.report = reports[1];
        conf.events = events[1];
        o.child_main = child_main;
        o.ud = o.event_ud = &conf;
        o.on_event = write_event;
        if (conf.json_log) {
            dup2(events[1], STDERR_FILENO);
            o.on_event = NULL;
        }
        _exit(wk_supervise(&o) == RT_OK ? 0 : 1);
    }
    close(reports[1]);
    close(events[1]);
    s->reports = (reader){.fd = reports[0]};
    s->events = (reader){.fd = events[0]};
}

/* Waits for the report "'what' SLOT PID"; returns the pid and sets '*slot'. */
static pid_t await_report(supervised *s, const char *what, int *slot) {
    char line[256], word[16];
    int pid;
    *slot = -1;
    while (next_line(&s->reports, line, sizeof line)) {
        if (sscanf(line, "%15s %d %d", word, slot, &pid) == 3 && strcmp(word, what) == 0)
            return pid;
        if (strncmp(line, "jail failed", 11) == 0)
            fail_msg("%s", line);
    }
    fail_msg("no '%s' report in time", what);
    return -1;
}

static void await_starts(supervised *s, int n) {
    for (int i = 0; i < n; i++) {
        int slot;
        pid_t pid = await_report(s, "start", &slot);
        assert_in_range(slot, 0, n - 1);
        s->children[slot] = pid;
    }
}

/* Waits for an event of 'kind' and returns it. */
static wk_supervisor_event await_event(supervised *s, wk_supervisor_event_kind kind) {
    char line[256];
    while (next_line(&s->events, line, sizeof line)) {
        wk_supervisor_event e = {0};
        int k, pid;
        if (sscanf(line, "%d %d %d %d %d %lf", &k, &e.slot, &pid, &e.status, &e.signal,
                   &e.restart_in) == 6 &&
            k == (int)kind) {
            e.kind = kind;
            e.pid = pid;
            return e;
        }
    }
    fail_msg("no event %d in time", (int)kind);
    return (wk_supervisor_event){0};
}

/* Waits for the JSON log line of 'event'; the caller frees it. */
static json_t *await_log(supervised *s, const char *event) {
    char line[1024];
    while (next_line(&s->events, line, sizeof line)) {
        json_t *log = json_loads(line, 0, NULL);
        assert_non_null(log); /* every line is JSON */
        assert_string_equal(json_string_value(json_object_get(log, "component")), "supervisor");
        if (strcmp(json_string_value(json_object_get(log, "event")), event) == 0)
            return log;
        json_decref(log);
    }
    fail_msg("no log line for '%s' in time", event);
    return NULL;
}

/* Collects the supervisor process, which has ended or is about to; returns its status. */
static int wait_supervisor(supervised *s) {
    int status = 0;
    assert_int_equal(waitpid(s->pid, &status, 0), s->pid);
    s->pid = 0;
    return status;
}

/* Stops the supervisor with SIGTERM and checks that it returned RT_OK; the seconds it took. */
static double stop_supervisor(supervised *s) {
    double t0 = rt_monotonic();
    assert_int_equal(kill(s->pid, SIGTERM), 0);
    await_event(s, WK_SUPERVISOR_STOPPED);
    int status = wait_supervisor(s);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    return rt_monotonic() - t0;
}

/* Teardown: a test that failed half-way leaves its supervisor running; it drains and ends. */
static int end_supervisor(void **state) {
    (void)state;
    if (sup.pid > 0) {
        kill(sup.pid, SIGTERM);
        waitpid(sup.pid, NULL, 0);
    }
    if (sup.reports.fd > 0)
        close(sup.reports.fd);
    if (sup.events.fd > 0)
        close(sup.events.fd);
    memset(&sup, 0, sizeof sup);
    return 0;
}

static void assert_gone(pid_t pid) {
    assert_int_equal(kill(pid, 0), -1); /* reaped by the supervisor */
    assert_int_equal(errno, ESRCH);
}

static void test_supervisor_restarts_killed_child(void **state) {
    (void)state;
    supervised *s = &sup;
    start_supervisor(s, (wk_supervisor_options){.processes = 2, .backoff_min = 0.05},
                     (child_conf){0});
    await_starts(s, 2);
    assert_int_not_equal(s->children[0], s->children[1]);
    pid_t killed = s->children[0];
    assert_int_equal(kill(killed, SIGKILL), 0);
    wk_supervisor_event e = await_event(s, WK_SUPERVISOR_EXITED);
    assert_int_equal(e.pid, killed);
    assert_int_equal(e.signal, SIGKILL);
    assert_true(e.restart_in > 0.04 && e.restart_in < 0.06);
    int slot;
    pid_t fresh = await_report(s, "start", &slot);
    assert_int_equal(slot, 0);
    assert_int_not_equal(fresh, killed);
    assert_int_not_equal(fresh, s->children[1]);
    s->children[0] = fresh;
    /* Drain: both children hear SIGTERM, finish, and the supervisor returns in time. */
    double took = stop_supervisor(s);
    pid_t termed[2];
    termed[0] = await_report(s, "term", &slot);
    termed[1] = await_report(s, "term", &slot);
    assert_true(termed[0] == s->children[0] || termed[0] == s->children[1]);
    assert_true(termed[1] == s->children[0] || termed[1] == s->children[1]);
    assert_int_not_equal(termed[0], termed[1]);
    assert_true(took < 2.0);
    assert_gone(s->children[0]);
    assert_gone(s->children[1]);
}

static void test_supervisor_forwards_sighup(void **state) {
    (void)state;
    supervised *s = &sup;
    start_supervisor(s, (wk_supervisor_options){.processes = 2}, (child_conf){0});
    await_starts(s, 2);
    assert_int_equal(kill(s->pid, SIGHUP), 0);
    await_event(s, WK_SUPERVISOR_RELOADING);
    int slot;
    pid_t a = await_report(s, "hup", &slot), b = await_report(s, "hup", &slot);
    assert_true((a == s->children[0] && b == s->children[1]) ||
                (a == s->children[1] && b == s->children[0]));
    /* The children were kept: the next thing they report is the drain, not a start. */
    stop_supervisor(s);
    char line[256];
    assert_non_null(next_line(&s->reports, line, sizeof line));
    assert_int_equal(strncmp(line, "term ", 5), 0);
}

static void test_supervisor_kills_after_drain_timeout(void **state) {
    (void)state;
    supervised *s = &sup;
    start_supervisor(s, (wk_supervisor_options){.processes = 2, .drain_timeout = 0.3},
                     (child_conf){.stubborn = 1});
    await_starts(s, 2);
    double took = stop_supervisor(s);
    assert_true(took >= 0.3);
    assert_true(took < 2.0);
    int slot;
    await_report(s, "term", &slot); /* they heard it, and did not drain */
    assert_gone(s->children[0]);
    assert_gone(s->children[1]);
}

static void test_supervisor_killed_events(void **state) {
    (void)state;
    supervised *s = &sup;
    start_supervisor(s, (wk_supervisor_options){.processes = 1, .drain_timeout = 0.2},
                     (child_conf){.stubborn = 1});
    await_starts(s, 1);
    assert_int_equal(kill(s->pid, SIGTERM), 0);
    await_event(s, WK_SUPERVISOR_STOPPING);
    wk_supervisor_event killing = await_event(s, WK_SUPERVISOR_KILLING);
    assert_int_equal(killing.pid, s->children[0]);
    wk_supervisor_event exited = await_event(s, WK_SUPERVISOR_EXITED);
    assert_int_equal(exited.signal, SIGKILL);
    assert_true(exited.restart_in < 0); /* stopping: no restart */
    await_event(s, WK_SUPERVISOR_STOPPED);
    int status = wait_supervisor(s);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

static void test_supervisor_backoff_doubles_to_cap(void **state) {
    (void)state;
    supervised *s = &sup;
    start_supervisor(
        s, (wk_supervisor_options){.processes = 1, .backoff_min = 0.02, .backoff_max = 0.08},
        (child_conf){.exit_at_once = 1});
    const double want[] = {0.02, 0.04, 0.08, 0.08, 0.08};
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        wk_supervisor_event e = await_event(s, WK_SUPERVISOR_EXITED);
        assert_int_equal(e.status, 3);
        assert_int_equal(e.signal, 0);
        assert_true(e.restart_in > want[i] - 0.001 && e.restart_in < want[i] + 0.001);
    }
    stop_supervisor(s);
}

static void test_children_drain_when_supervisor_dies(void **state) {
    (void)state;
    supervised *s = &sup;
    /* The orphans are reparented to the test, which can then see them end and reap them. */
    assert_int_equal(prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0), 0);
    start_supervisor(s, (wk_supervisor_options){.processes = 2}, (child_conf){0});
    await_starts(s, 2);
    assert_int_equal(kill(s->pid, SIGKILL), 0);
    int slot, status;
    assert_true(WIFSIGNALED(wait_supervisor(s)));
    pid_t a = await_report(s, "term", &slot), b = await_report(s, "term", &slot);
    assert_true((a == s->children[0] && b == s->children[1]) ||
                (a == s->children[1] && b == s->children[0]));
    for (int i = 0; i < 2; i++) { /* they drained and exited on their own */
        assert_int_equal(waitpid(s->children[i], &status, 0), s->children[i]);
        assert_true(WIFEXITED(status));
        assert_int_equal(WEXITSTATUS(status), 0);
    }
    prctl(PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0);
}

static void test_supervisor_logs_json_by_default(void **state) {
    (void)state;
    supervised *s = &sup;
    start_supervisor(s, (wk_supervisor_options){.processes = 1, .backoff_min = 0.05},
                     (child_conf){.json_log = 1});
    await_starts(s, 1);
    json_t *log = await_log(s, "child_started");
    assert_int_equal(json_integer_value(json_object_get(log, "pid")), s->children[0]);
    assert_int_equal(json_integer_value(json_object_get(log, "slot")), 0);
    assert_string_equal(json_string_value(json_object_get(log, "level")), "info");
    assert_string_equal(json_string_value(json_object_get(log, "msg")), "worker child started");
    json_decref(log);
    assert_int_equal(kill(s->children[0], SIGKILL), 0);
    log = await_log(s, "child_exited");
    assert_int_equal(json_integer_value(json_object_get(log, "pid")), s->children[0]);
    assert_string_equal(json_string_value(json_object_get(log, "signal")), "SIGKILL");
    assert_string_equal(json_string_value(json_object_get(log, "level")), "warn");
    assert_string_equal(json_string_value(json_object_get(log, "msg")), "worker child exited");
    assert_true(json_number_value(json_object_get(log, "restart_in")) > 0);
    json_decref(log);
    assert_int_equal(kill(s->pid, SIGTERM), 0);
    json_decref(await_log(s, "stopping"));
    json_decref(await_log(s, "stopped"));
    assert_true(WIFEXITED(wait_supervisor(s)));
}

/* A child that exits with fatal_status (as `inquest worker`'s does when its configuration cannot
 * work) is not restarted: the supervisor stops and fails. */
static void test_supervisor_gives_up_on_fatal_status(void **state) {
    (void)state;
    supervised *s = &sup;
    start_supervisor(
        s, (wk_supervisor_options){.processes = 1, .backoff_min = 0.05, .fatal_status = 3},
        (child_conf){.exit_at_once = 1});
    wk_supervisor_event e = await_event(s, WK_SUPERVISOR_EXITED);
    assert_int_equal(e.status, 3);
    assert_true(e.restart_in < 0); /* no restart scheduled */
    e = await_event(s, WK_SUPERVISOR_GIVING_UP);
    assert_int_equal(e.status, 3);
    await_event(s, WK_SUPERVISOR_STOPPED);
    int status = wait_supervisor(s);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 1); /* wk_supervise did not return RT_OK */
}

static void test_supervisor_rejects_bad_options(void **state) {
    (void)state;
    wk_supervisor_options o = {.processes = 1};
    assert_int_equal(wk_supervise(&o), RT_EUSAGE); /* no child_main */
    o.child_main = child_main;
    o.processes = -1;
    assert_int_equal(wk_supervise(&o), RT_EUSAGE);
}

/* ---- setup ---------------------------------------------------------------------------------- */

/* A folder "nobody" can read, with one file in it; 'writable' names a file that does not
 * exist, in a folder anyone may write to, so that only the filter stops its creation. */
static int make_scratch(void **state) {
    (void)state;
    snprintf(scratch, sizeof scratch, "/tmp/inquest-jail-XXXXXX");
    if (!mkdtemp(scratch) || chmod(scratch, 01777) != 0)
        return -1;
    snprintf(readable, sizeof readable, "%s/readable.txt", scratch);
    snprintf(writable, sizeof writable, "%s/new", scratch);
    FILE *f = fopen(readable, "w");
    if (!f)
        return -1;
    fputs("hello jail\n", f);
    fclose(f);
    jail_reads[0] = scratch;
    jail_reads[1] = TESTS_DIR "/../examples";
    return chmod(readable, 0666);
}

static int remove_scratch(void **state) {
    (void)state;
    unlink(readable);
    rmdir(writable);
    unlink(writable);
    return rmdir(scratch);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_jail_kills_forbidden_calls),
        cmocka_unit_test(test_jail_refuses_probed_calls),
        cmocka_unit_test(test_jail_clears_environment),
        cmocka_unit_test(test_jail_confines_reading),
        cmocka_unit_test(test_jail_lets_worker_work),
        cmocka_unit_test(test_jail_drops_root),
        cmocka_unit_test(test_jail_refuses_root_without_user),
        cmocka_unit_test_teardown(test_supervisor_restarts_killed_child, end_supervisor),
        cmocka_unit_test_teardown(test_supervisor_forwards_sighup, end_supervisor),
        cmocka_unit_test_teardown(test_supervisor_kills_after_drain_timeout, end_supervisor),
        cmocka_unit_test_teardown(test_supervisor_killed_events, end_supervisor),
        cmocka_unit_test_teardown(test_supervisor_backoff_doubles_to_cap, end_supervisor),
        cmocka_unit_test_teardown(test_children_drain_when_supervisor_dies, end_supervisor),
        cmocka_unit_test_teardown(test_supervisor_logs_json_by_default, end_supervisor),
        cmocka_unit_test_teardown(test_supervisor_gives_up_on_fatal_status, end_supervisor),
        cmocka_unit_test(test_supervisor_rejects_bad_options),
    };
    return cmocka_run_group_tests(tests, make_scratch, remove_scratch);
}
