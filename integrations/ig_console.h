/* integrations/ig_console.h -- the web console of `inquest serve` (docs/console.md): its pages
 * and assets, built into the binary (ig_console.c, from integrations/console/), and its sessions
 * (ig_console_session.c): a login with an API token sets a signed cookie that the /v1 API
 * (ig_api.c) takes in place of the bearer token, with a CSRF token on every request that changes
 * something. Only the serve files include it. */
#ifndef INQUEST_IG_CONSOLE_H
#define INQUEST_IG_CONSOLE_H

#include <stdbool.h>
#include <stddef.h>
#include "ig_serve.h"

/* One file of integrations/console/, embedded at build time (cmake/InquestAssets.cmake writes
 * the table). 'etag' is a strong validator: the quoted start of the file's SHA-256. */
typedef struct ig_console_asset {
    const char *name; /* "app.js": the file's name, served at /console/assets/NAME */
    const unsigned char *data;
    size_t len;
    const char *etag;
} ig_console_asset;

extern const ig_console_asset ig_console_assets[];
extern const size_t ig_console_n_assets;

/* The name of the session cookie, and of the header that carries a session's CSRF token. */
#define IG_CONSOLE_COOKIE         "inquest_session"
#define IG_CONSOLE_CSRF           "X-Inquest-CSRF"
#define IG_CONSOLE_HEX            64 /* hex digits of a CSRF token (HMAC-SHA256) */
#define IG_CONSOLE_COOKIE_MAX     256
#define IG_CONSOLE_SET_COOKIE_MAX (IG_CONSOLE_COOKIE_MAX + 256) /* with its attributes */

/* The console's state in a serve process: the key that signs sessions and the sessions ended
 * by a logout before their expiry. Owned by ig_serve (s->console). */
typedef struct ig_console ig_console;

/* Makes the console's state for 's': its session key from console.key_env or key_file, else 32
 * random bytes (sessions then end with the process). Returns RT_OK, or RT_EINPUT with the
 * reason in 'why' (256 bytes) when the key cannot be read or is shorter than 32 bytes. */
int ig_console_open(ig_serve *s, char *why);
/* Wipes the key and frees; accepts NULL. */
void ig_console_free(ig_console *c);

/* The path of server.external_url: "/inquest" when a reverse proxy serves Inquest under that
 * path and strips it before serve sees a request, "" without one. Returns its length (no slash
 * at its end) and points '*path' at it, inside s->base_url and not terminated there (print it
 * with "%.*s"). Every path the console gives the browser (redirects, the pages' links and
 * fetches, the cookie's Path) starts with it; the requests serve sees do not. */
int ig_console_base(const ig_serve *s, const char **path);

/* Handles 'req' when its path is the console's ("/", "/console", "/console/…") and the console
 * is enabled: returns false, doing nothing, for any other path. */
bool ig_console_handle(ig_serve *s, rt_httpd_req *req);

/* ---- sessions (ig_console_session.c) --------------------------------------------------------- */

/* A session as read from its cookie. */
typedef struct ig_session {
    const ig_token *token; /* the token it was made with, as the server knows it now */
    double expires;        /* Unix seconds */
    char sid[33];          /* its random id, hex */
    char csrf[IG_CONSOLE_HEX + 1];
} ig_session;

/* True when 'req' carries a session cookie (valid or not): the API then authenticates with it. */
bool ig_console_has_cookie(const rt_httpd_req *req);

/* Authenticates 'req' by its session cookie for the /v1 API: '*token' is the session's token and
 * the result true; or false after answering 401 (no valid session: expired, logged out, signed
 * with another key, or its token removed or changed) or 403 (a request that changes something
 * without the session's CSRF token in IG_CONSOLE_CSRF, or sent from another origin). */
bool ig_console_authenticate(ig_serve *s, rt_httpd_req *req, const ig_token **token);

/* True when 'req' may change something as far as its origin goes: a GET or HEAD, or a request
 * whose Origin (or, without one, Sec-Fetch-Site) names this server; false after answering 403.
 * For the API without tokens, where a browser's cross-site request is the only threat a
 * credential-less server can still refuse. */
bool ig_console_same_origin(ig_serve *s, rt_httpd_req *req);

/* Reads the session cookie of 'req' into 'out'. Returns true when it is valid now. */
bool ig_console_session_read(ig_serve *s, const rt_httpd_req *req, ig_session *out);

/* Makes a session for 'token' lasting the config's console.session_ttl and writes its cookie
 * value into 'cookie' (IG_CONSOLE_COOKIE_MAX bytes); '*out' says what it holds. */
void ig_console_session_new(ig_serve *s, const ig_token *token, char *cookie, ig_session *out);

/* Ends session 'sid' (expiring at 'expires') before its expiry: its cookie is refused from now
 * on by this process. */
void ig_console_session_end(ig_serve *s, const char *sid, double expires);

/* True when the 'n' bytes at 'a' equal 'b' (NUL-terminated), in time that does not depend on
 * where they differ. */
bool ig_console_equal(const char *a, size_t n, const char *b);

/* The Set-Cookie value that sets 'cookie' (NULL: clears it) for 'max_age' seconds, HttpOnly,
 * SameSite=Strict, Path= the base path (ig_console_base; "/" without one), and Secure when the
 * server's external URL is https. Into 'out' of 'size' bytes (IG_CONSOLE_SET_COOKIE_MAX holds
 * any). */
void ig_console_cookie_header(const ig_serve *s, const char *cookie, double max_age, char *out,
                              size_t size);

#endif
