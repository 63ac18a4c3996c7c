/* integrations/ig_console_session.c -- the console's sessions (docs/console.md, sessions): a login
 * with an API token becomes a cookie signed with HMAC-SHA256, which the /v1 API takes in place of
 * the bearer token; each session has its CSRF token, and requests that change something must
 * carry it and come from this server's origin. The pages and the login form are ig_console.c.
 *
 * Design notes. A session is stateless: its cookie holds everything, signed, so that any serve
 * process with the same key (console.key_env or key_file) accepts it:
 *
 *     v1.NAME.EXPIRES.SID.FP.MAC
 *
 * NAME is the token's name (^[a-z][a-z0-9_]*$, so no dots), EXPIRES Unix seconds, SID 16 random
 * bytes in hex, FP the first 16 bytes of HMAC(key, "token." SECRET) in hex, and MAC the
 * HMAC-SHA256 under the key of everything before it. The token's scopes are not in the cookie:
 * they are read from the running config by NAME at each request, so a SIGHUP that narrows a
 * token narrows its sessions at once, and FP ties the session to the token's secret, so a removed
 * or rotated token ends its sessions. The CSRF token is HMAC(key, "csrf." SID): derived, nothing
 * to store, unknown to anyone without the key. A logout puts SID on a list of ended sessions
 * until its expiry; that list is this process' own (a restart with a configured key, or another
 * serve process, still accepts the cookie until it expires: rotate the key to end every session
 * at once). */
#define _GNU_SOURCE /* strncasecmp */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include "ig_console.h"

#define KEY_MIN     32     /* bytes of a configured session key, at least */
#define MAX_ENDED   100000 /* sessions ended early that one process remembers */
#define MAX_NAME    100    /* bytes of a token name in a cookie */
#define MAC_HEX     64
#define FP_HEX      32
#define SID_HEX     32
#define ORIGIN_SIZE 300

typedef struct ended {
    char sid[SID_HEX + 1];
    double expires;
} ended;

struct ig_console {
    unsigned char *key; /* owned, wiped on free */
    size_t key_len;
    ended *ended; /* sessions logged out before their expiry */
    size_t n_ended, cap_ended;
};

/* ---- keys and MACs --------------------------------------------------------------------------- */

int ig_console_open(ig_serve *s, char *why) {
    const rt_console *cfg = &s->config->console;
    ig_console *c = rt_xcalloc(1, sizeof *c);
    if (cfg->session_key.type != RT_AUTH_NONE) {
        char *secret = NULL, reason[256];
        size_t len = 0;
        if (rt_config_secret(&cfg->session_key, &secret, &len, reason) != RT_OK) {
            snprintf(why, 256, "console session key: %.200s", reason);
            free(c);
            return RT_EINPUT;
        }
        if (len < KEY_MIN) {
            snprintf(why, 256, "console session key: %zu bytes; it needs at least %d", len,
                     KEY_MIN);
            rt_secret_free(secret, len);
            free(c);
            return RT_EINPUT;
        }
        c->key = rt_xmalloc(len);
        memcpy(c->key, secret, len);
        c->key_len = len;
        rt_secret_free(secret, len);
    } else {
        c->key_len = 32;
        c->key = rt_xmalloc(c->key_len);
        if (RAND_bytes(c->key, (int)c->key_len) != 1) {
            snprintf(why, 256, "console session key: the system gave no random bytes");
            free(c->key);
            free(c);
            return RT_EINPUT;
        }
    }
    s->console = c;
    return RT_OK;
}

void ig_console_free(ig_console *c) {
    if (!c)
        return;
    OPENSSL_cleanse(c->key, c->key_len);
    free(c->key);
    free(c->ended);
    free(c);
}

static void to_hex(const unsigned char *b, size_t n, char *out) {
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[b[i] >> 4];
        out[2 * i + 1] = digits[b[i] & 15];
    }
    out[2 * n] = '\0';
}

/* HMAC-SHA256 under the console's key of 'prefix' then the 'n' bytes at 'data', as 'hex_len' hex
 * digits (at most 64) into 'out'. Aborts when libcrypto cannot compute it: a console that could
 * not sign would accept nothing, and that is a broken installation. */
static void mac_hex(const ig_console *c, const char *prefix, const void *data, size_t n,
                    size_t hex_len, char *out) {
    unsigned char mac[EVP_MAX_MD_SIZE];
    size_t mac_len = 0;
    EVP_MAC *m = EVP_MAC_fetch(NULL, "HMAC", NULL);
    EVP_MAC_CTX *ctx = m ? EVP_MAC_CTX_new(m) : NULL;
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)"SHA256", 0),
        OSSL_PARAM_construct_end(),
    };
    int ok = ctx && EVP_MAC_init(ctx, c->key, c->key_len, params) &&
             EVP_MAC_update(ctx, (const unsigned char *)prefix, strlen(prefix)) &&
             EVP_MAC_update(ctx, data, n) && EVP_MAC_final(ctx, mac, &mac_len, sizeof mac);
    EVP_MAC_CTX_free(ctx);
    EVP_MAC_free(m);
    if (!ok || mac_len != 32) {
        fprintf(stderr, "inquest serve: console: HMAC-SHA256 failed\n");
        abort();
    }
    char hex[MAC_HEX + 1];
    to_hex(mac, 32, hex);
    memcpy(out, hex, hex_len);
    out[hex_len] = '\0';
    OPENSSL_cleanse(mac, sizeof mac);
}

bool ig_console_equal(const char *a, size_t n, const char *b) {
    return n == strlen(b) && CRYPTO_memcmp(a, b, n) == 0;
}

/* The fingerprint of 'token''s secret: a session made with a secret since changed is refused. */
static void token_fp(const ig_console *c, const ig_token *token, char *out) {
    mac_hex(c, "token.", token->secret, token->len, FP_HEX, out);
}

/* ---- sessions -------------------------------------------------------------------------------- */

static bool was_ended(ig_console *c, const char *sid, double now) {
    for (size_t i = 0; i < c->n_ended; i++)
        if (c->ended[i].expires > now && strcmp(c->ended[i].sid, sid) == 0)
            return true;
    return false;
}

void ig_console_session_end(ig_serve *s, const char *sid, double expires) {
    ig_console *c = s->console;
    double now = rt_wallclock();
    size_t kept = 0;
    for (size_t i = 0; i < c->n_ended; i++) /* those expired since need no remembering */
        if (c->ended[i].expires > now)
            c->ended[kept++] = c->ended[i];
    c->n_ended = kept;
    if (c->n_ended == MAX_ENDED) /* the soonest to expire goes first: it is the least useful */
        memmove(c->ended, c->ended + 1, --c->n_ended * sizeof *c->ended);
    if (c->n_ended == c->cap_ended) {
        c->cap_ended = c->cap_ended ? c->cap_ended * 2 : 16;
        c->ended = rt_xrealloc(c->ended, c->cap_ended * sizeof *c->ended);
    }
    snprintf(c->ended[c->n_ended].sid, sizeof c->ended[c->n_ended].sid, "%s", sid);
    c->ended[c->n_ended++].expires = expires;
}

static const ig_token *token_named(const ig_serve *s, const char *name, size_t n) {
    for (size_t i = 0; i < s->n_tokens; i++)
        if (s->tokens[i].secret && strlen(s->tokens[i].config->name) == n &&
            memcmp(s->tokens[i].config->name, name, n) == 0)
            return &s->tokens[i];
    return NULL;
}

void ig_console_session_new(ig_serve *s, const ig_token *token, char *cookie, ig_session *out) {
    unsigned char sid[SID_HEX / 2];
    char fp[FP_HEX + 1], mac[MAC_HEX + 1];
    if (RAND_bytes(sid, sizeof sid) != 1) {
        fprintf(stderr, "inquest serve: console: no random bytes for a session id\n");
        abort();
    }
    memset(out, 0, sizeof *out);
    out->token = token;
    out->expires = (double)(long long)(rt_wallclock() + s->config->console.session_ttl);
    to_hex(sid, sizeof sid, out->sid);
    token_fp(s->console, token, fp);
    int n = snprintf(cookie, IG_CONSOLE_COOKIE_MAX, "v1.%.*s.%lld.%s.%s", MAX_NAME,
                     token->config->name, (long long)out->expires, out->sid, fp);
    mac_hex(s->console, "", cookie, (size_t)n, MAC_HEX, mac);
    snprintf(cookie + n, IG_CONSOLE_COOKIE_MAX - (size_t)n, ".%s", mac);
    mac_hex(s->console, "csrf.", out->sid, SID_HEX, IG_CONSOLE_HEX, out->csrf);
}

/* The value of cookie 'name' in the Cookie header of 'req' into 'out' of 'size' bytes; false
 * when it is absent or too long. */
static bool cookie_value(const rt_httpd_req *req, const char *name, char *out, size_t size) {
    const char *h = rt_httpd_header(req, "Cookie");
    size_t n = strlen(name);
    while (h && *h) {
        h += strspn(h, " \t;");
        size_t len = strcspn(h, ";");
        if (len > n && strncmp(h, name, n) == 0 && h[n] == '=') {
            size_t v = len - n - 1;
            while (v > 0 && (h[n + v] == ' ' || h[n + v] == '\t'))
                v--;
            if (v >= size)
                return false;
            memcpy(out, h + n + 1, v);
            out[v] = '\0';
            return true;
        }
        h += len;
    }
    return false;
}

bool ig_console_has_cookie(const rt_httpd_req *req) {
    char value[IG_CONSOLE_COOKIE_MAX];
    return cookie_value(req, IG_CONSOLE_COOKIE, value, sizeof value);
}

/* Splits 'v' at its dots into at most 'max' parts; returns how many. Parts point into 'v', which
 * is cut at the dots. */
static size_t split_dots(char *v, char **parts, size_t max) {
    size_t n = 0;
    while (n < max) {
        parts[n++] = v;
        char *dot = strchr(v, '.');
        if (!dot)
            break;
        *dot = '\0';
        v = dot + 1;
    }
    return n;
}

static bool all_hex(const char *s, size_t n) {
    return strlen(s) == n && strspn(s, "0123456789abcdef") == n;
}

bool ig_console_session_read(ig_serve *s, const rt_httpd_req *req, ig_session *out) {
    char value[IG_CONSOLE_COOKIE_MAX], signed_part[IG_CONSOLE_COOKIE_MAX], mac[MAC_HEX + 1];
    char fp[FP_HEX + 1], *parts[7], *end = NULL;
    memset(out, 0, sizeof *out);
    if (!s->console || !cookie_value(req, IG_CONSOLE_COOKIE, value, sizeof value))
        return false;
    const char *last_dot = strrchr(value, '.');
    if (!last_dot)
        return false;
    size_t signed_len = (size_t)(last_dot - value);
    memcpy(signed_part, value, signed_len);
    signed_part[signed_len] = '\0';
    /* The MAC first, over the text as sent: nothing of an unsigned cookie is looked at. */
    mac_hex(s->console, "", signed_part, signed_len, MAC_HEX, mac);
    if (!ig_console_equal(last_dot + 1, strlen(last_dot + 1), mac))
        return false;
    if (split_dots(value, parts, 7) != 6 || strcmp(parts[0], "v1") != 0)
        return false;
    double now = rt_wallclock(), expires = strtod(parts[2], &end);
    if (end == parts[2] || *end || expires <= now || !all_hex(parts[3], SID_HEX) ||
        !all_hex(parts[4], FP_HEX))
        return false;
    const ig_token *token = token_named(s, parts[1], strlen(parts[1]));
    if (!token)
        return false;
    token_fp(s->console, token, fp);
    if (!ig_console_equal(parts[4], FP_HEX, fp) || was_ended(s->console, parts[3], now))
        return false;
    out->token = token;
    out->expires = expires;
    snprintf(out->sid, sizeof out->sid, "%s", parts[3]);
    mac_hex(s->console, "csrf.", out->sid, SID_HEX, IG_CONSOLE_HEX, out->csrf);
    return true;
}

/* The cookie's Path: the base path of external_url (ig_console_base), so that the other
 * applications a proxy serves on the same host under other paths are not sent the session; "/"
 * without one. Also "/" for a base that could not be a cookie's Path as it is (a ';' would end
 * the attribute) or that is too long for the header's buffer: the cookie is then sent to more
 * paths of the host than it needs, as without a base. */
#define COOKIE_PATH_MAX 128
static void cookie_path(const ig_serve *s, const char **path, int *n) {
    *n = ig_console_base(s, path);
    if (*n == 0 || *n > COOKIE_PATH_MAX || memchr(*path, ';', (size_t)*n)) {
        *path = "/";
        *n = 1;
    }
}

void ig_console_cookie_header(const ig_serve *s, const char *cookie, double max_age, char *out,
                              size_t size) {
    bool secure = strncasecmp(s->base_url, "https://", 8) == 0;
    const char *path;
    int n;
    cookie_path(s, &path, &n);
    snprintf(out, size, "%s=%s; Path=%.*s; Max-Age=%lld; HttpOnly; SameSite=Strict%s",
             IG_CONSOLE_COOKIE, cookie ? cookie : "", n, path, cookie ? (long long)max_age : 0LL,
             secure ? "; Secure" : "");
}

/* ---- origins and CSRF ------------------------------------------------------------------------ */

static bool changes_state(const rt_httpd_req *req) {
    return strcmp(req->method, "GET") != 0 && strcmp(req->method, "HEAD") != 0 &&
           strcmp(req->method, "OPTIONS") != 0;
}

/* The origin of URL 'url' (scheme://host[:port], without a path) into 'out'. */
static void origin_of(const char *url, char *out, size_t size) {
    const char *host = strstr(url, "://");
    size_t n = host ? (size_t)(host + 3 - url) + strcspn(host + 3, "/?#") : strlen(url);
    snprintf(out, size, "%.*s", (int)n, url);
}

/* True when 'host' (a Host header: name or address, and maybe a port) is an address or
 * localhost: a name no other site can point at this server. DNS rebinding does just that with
 * a name of its own: the browser then sends that name as both Host and Origin. */
static bool host_not_rebindable(const char *host) {
    char name[256];
    if (host[0] == '[') /* an IPv6 address */
        return true;
    snprintf(name, sizeof name, "%.*s", (int)strcspn(host, ":"), host);
    struct in_addr addr;
    return strcasecmp(name, "localhost") == 0 || inet_pton(AF_INET, name, &addr) == 1;
}

/* True when the browser says 'req' comes from a page of this server: its Origin is the external
 * URL's origin, or the scheme of that URL with the Host the request was sent to when that Host
 * is an address or localhost (a server reached by another name needs server.external_url);
 * without Origin, Sec-Fetch-Site is same-origin or none (typed by the user). A request with
 * neither comes from no browser: a program, which has no other site's pages to be tricked by. */
static bool from_here(const ig_serve *s, const rt_httpd_req *req) {
    const char *origin = rt_httpd_header(req, "Origin");
    if (!origin || strcmp(origin, "null") == 0) {
        const char *site = rt_httpd_header(req, "Sec-Fetch-Site");
        if (origin && !site) /* "null": a sandboxed or privacy-sensitive context, never ours */
            return false;
        return !site || strcmp(site, "same-origin") == 0 || strcmp(site, "none") == 0;
    }
    char external[ORIGIN_SIZE], here[ORIGIN_SIZE];
    origin_of(s->base_url, external, sizeof external);
    if (strcasecmp(origin, external) == 0)
        return true;
    const char *host = rt_httpd_header(req, "Host");
    const char *scheme_end = strstr(external, "://");
    if (!host || !scheme_end || !host_not_rebindable(host))
        return false;
    snprintf(here, sizeof here, "%.*s://%s", (int)(scheme_end - external), external, host);
    return strcasecmp(origin, here) == 0;
}

bool ig_console_same_origin(ig_serve *s, rt_httpd_req *req) {
    if (!changes_state(req) || from_here(s, req))
        return true;
    rt_httpd_error(req, 403, "forbidden",
                   "a request from another site's page may not change anything here (Origin %s)",
                   rt_httpd_header(req, "Origin") ? rt_httpd_header(req, "Origin") : "absent");
    return false;
}

bool ig_console_authenticate(ig_serve *s, rt_httpd_req *req, const ig_token **token) {
    ig_session session;
    *token = NULL;
    if (!ig_console_session_read(s, req, &session)) {
        rt_httpd_set_header(req, "WWW-Authenticate", "Bearer realm=\"inquest\"");
        rt_httpd_error(req, 401, "unauthorized",
                       "the console session is not valid (expired, logged out, or its token "
                       "changed): log in again at /console/login");
        return false;
    }
    if (changes_state(req)) {
        const char *csrf = rt_httpd_header(req, IG_CONSOLE_CSRF);
        if (!from_here(s, req)) {
            rt_httpd_error(req, 403, "csrf",
                           "a request from another site's page may not change anything here");
            return false;
        }
        if (!csrf || !ig_console_equal(csrf, strlen(csrf), session.csrf)) {
            rt_httpd_error(req, 403, "csrf",
                           "%s the session's CSRF token: send it in the %s header "
                           "(GET /console/session gives it)",
                           csrf ? "the request carries another token than" : "the request lacks",
                           IG_CONSOLE_CSRF);
            return false;
        }
    }
    *token = session.token;
    return true;
}
