/* workers/wk_jail.h -- the process sandbox of a worker child: dropped privileges, rlimits,
 * no new privileges and a seccomp allow-list, entered once after fork and never left. The
 * supervisor that forks the children is in wk_supervisor.h; the Lua sandbox is wk_sandbox.c. */
#ifndef INQUEST_WK_JAIL_H
#define INQUEST_WK_JAIL_H

#include <stddef.h>

#define WK_JAIL_DEFAULT_MEMORY     ((size_t)2 << 30) /* RLIMIT_DATA: M analyses plus buffers */
#define WK_JAIL_DEFAULT_OPEN_FILES 1024              /* RLIMIT_NOFILE */

/* True in builds where the sanitizers run inside the jail and need a wider one (wk_jail.c says
 * what is relaxed and why). */
#if defined(__SANITIZE_ADDRESS__)
#define WK_JAIL_SANITIZER 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define WK_JAIL_SANITIZER 1
#endif
#endif
#ifndef WK_JAIL_SANITIZER
#define WK_JAIL_SANITIZER 0
#endif

typedef struct wk_jail_options {
    const char *user;  /* when the process is root: the user to become; ignored otherwise */
    int allow_root;    /* root with no 'user' is refused unless this is set */
    size_t memory;     /* RLIMIT_DATA in bytes; 0: WK_JAIL_DEFAULT_MEMORY */
    size_t open_files; /* RLIMIT_NOFILE; 0: WK_JAIL_DEFAULT_OPEN_FILES */
    /* Folders (or files) the process reads after the jail, such as the analyzers it loads. With
     * any, and a kernel with Landlock, it reads nothing else but what libraries read (wk_jail.c
     * lists it); 0: files are as the user may read them. */
    const char *const *read_paths;
    size_t n_read_paths;
} wk_jail_options;

/* The Landlock ABI version with which a jail of 'o' confines file access: the kernel's, when 'o'
 * names read_paths; 0 when files are not confined (no read_paths, or no Landlock). Ask before
 * the jail: its filter refuses Landlock's calls. */
int wk_jail_file_abi(const wk_jail_options *o);

/* Sandboxes the calling process for good, as configured by 'o' (NULL: all defaults): removes
 * the environment but for a few variables libraries read (wk_jail.c); when it runs as root,
 * becomes 'o->user' (its groups, gid and uid) and checks that root cannot be regained; sets the
 * rlimits; sets PR_SET_NO_NEW_PRIVS and clears PR_SET_DUMPABLE; confines file access to
 * 'o->read_paths' (Landlock, when the kernel has it); loads the
 * seccomp allow-list, after which a system call outside it kills the process with SIGSYS (a few
 * fail with an errno instead; wk_jail.c lists them). Call it in a worker child after fork,
 * before any thread is started and before it runs analyses, but after whatever needs more than
 * the jail allows (reading the config, opening log files).
 * Returns RT_OK; RT_EUSAGE when the configuration is refused (root without a user or
 * 'allow_root', an unknown user); RT_EINTERNAL when a system call failed. 'why' (256 bytes)
 * then says what. After a failure the process may be half-jailed and must exit. */
int wk_jail_enter(const wk_jail_options *o, char *why);

#endif
