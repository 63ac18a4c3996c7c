/* integrations/ig_console.c -- the web console's routes in `inquest serve` (docs/console.md): the
 * pages and assets built into the binary from integrations/console/, the login form and logout,
 * and GET /console/session for the pages' scripts. The pages read and change everything through
 * the /v1 API (ig_api.c) with the session cookie and its CSRF token, so the console and the API
 * are one code path; sessions themselves are ig_console_session.c.
 *
 * Every answer here carries a strict Content-Security-Policy: scripts and styles only from
 * /console/assets/, no inline code, nothing from elsewhere, no framing. Pages hold no secret:
 * the CSRF token is fetched by script from /console/session.
 *
 * Behind a proxy that serves Inquest under the path of server.external_url and strips it, serve
 * sees /console/… but the browser must ask for /inquest/console/…: every redirect, the pages'
 * markup (send_page) and the cookie's Path carry that path, and the pages' scripts read it from
 * the page (integrations/console/base.js). */
#define _GNU_SOURCE /* strncasecmp, strcasestr */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/crypto.h>
#include "ig_console.h"

#define FORM_FIELD_MAX 4096 /* bytes of a login form's field, decoded */
#define NEXT_MAX       512

static const char csp[] =
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; form-action 'self'; frame-ancestors 'none'; "
    "base-uri 'none'";

/* The headers of every console answer: the CSP and the browser's other guards (the server sends
 * X-Content-Type-Options: nosniff with every answer). */
static void guard(rt_httpd_req *req) {
    rt_httpd_set_header(req, "Content-Security-Policy", csp);
    rt_httpd_set_header(req, "X-Frame-Options", "DENY");
    rt_httpd_set_header(req, "Referrer-Policy", "same-origin");
    rt_httpd_set_header(req, "Cross-Origin-Opener-Policy", "same-origin");
    rt_httpd_set_header(req, "Cross-Origin-Resource-Policy", "same-origin");
}

static const char *content_type(const char *name) {
    static const struct {
        const char *ext, *type;
    } types[] = {
        {".html", "text/html; charset=utf-8"}, {".js", "text/javascript; charset=utf-8"},
        {".css", "text/css; charset=utf-8"},   {".svg", "image/svg+xml"},
        {".json", "application/json"},         {".png", "image/png"},
    };
    const char *dot = strrchr(name, '.');
    for (size_t i = 0; dot && i < sizeof types / sizeof types[0]; i++)
        if (strcmp(dot, types[i].ext) == 0)
            return types[i].type;
    return "application/octet-stream";
}

static const ig_console_asset *asset_named(const char *name) {
    for (size_t i = 0; i < ig_console_n_assets; i++)
        if (strcmp(ig_console_assets[i].name, name) == 0)
            return &ig_console_assets[i];
    return NULL;
}

/* True when the If-None-Match of 'req' names 'etag' (or is "*"). */
static bool not_modified(const rt_httpd_req *req, const char *etag) {
    const char *h = rt_httpd_header(req, "If-None-Match");
    size_t n = strlen(etag);
    if (!h)
        return false;
    if (strcmp(h, "*") == 0)
        return true;
    for (const char *p = strstr(h, etag); p; p = strstr(p + 1, etag))
        if (p[n] == '\0' || p[n] == ',' || p[n] == ' ')
            return true;
    return false;
}

/* Answers 'req' with the 'len' bytes at 'data' of file 'name' and 'status': revalidated with
 * 'etag' at every use (no-cache), so that a new build's assets are seen at once and an unchanged
 * one costs a 304. */
static void send_file(rt_httpd_req *req, const char *name, const void *data, size_t len,
                      const char *etag, int status) {
    guard(req);
    rt_httpd_set_header(req, "ETag", etag);
    rt_httpd_set_header(req, "Cache-Control", "no-cache");
    if (status == 200 && not_modified(req, etag))
        rt_httpd_respond(req, 304, NULL, NULL, 0);
    else
        rt_httpd_respond(req, status, content_type(name), data, len);
}

static void send_asset(rt_httpd_req *req, const ig_console_asset *a, int status) {
    send_file(req, a->name, a->data, a->len, a->etag, status);
}

/* ---- the base path --------------------------------------------------------------------------- */

int ig_console_base(const ig_serve *s, const char **path) {
    const char *scheme = strstr(s->base_url, "://");
    const char *p = scheme ? scheme + 3 + strcspn(scheme + 3, "/?#") : "";
    size_t n = *p == '/' ? strcspn(p, "?#") : 0;
    while (n > 0 && p[n - 1] == '/')
        n--;
    *path = p;
    return (int)n;
}

/* 'path' ("/console/…") under the base path into 'out' of 'size' bytes: where the browser finds
 * it. */
static void at_base(const ig_serve *s, const char *path, char *out, size_t size) {
    const char *base;
    int n = ig_console_base(s, &base);
    snprintf(out, size, "%.*s%s", n, base, path);
}

/* The 'n' bytes at 'text' escaped for an HTML attribute's value into 'out' (6 * 'n' + 1 bytes).
 * external_url's path has no spaces or control characters (the config checks), but it may have
 * quotes, '<' or '&'. */
static void attribute_escape(const char *text, int n, char *out) {
    for (int i = 0; i < n; i++) {
        const char *e = text[i] == '&'    ? "&amp;"
                        : text[i] == '"'  ? "&quot;"
                        : text[i] == '\'' ? "&#39;"
                        : text[i] == '<'  ? "&lt;"
                        : text[i] == '>'  ? "&gt;"
                                          : NULL;
        if (e)
            out = stpcpy(out, e);
        else
            *out++ = text[i];
    }
    *out = '\0';
}

/* The ETag of asset 'a' rendered under base path 'base' ('n' bytes) into 'out' of 'size' bytes:
 * the build's, and an FNV-1a hash of the base, so that a changed base is a changed page. */
static void etag_with_base(const ig_console_asset *a, const char *base, int n, char *out,
                           size_t size) {
    unsigned long long hash = 14695981039346656037ULL;
    for (int i = 0; i < n; i++)
        hash = (hash ^ (unsigned char)base[i]) * 1099511628211ULL;
    snprintf(out, size, "%.*s-%016llx\"", (int)strlen(a->etag) - 1, a->etag, hash);
}

/* The page 'a' (HTML) under base path 'base' ('n' bytes, not empty): every attribute value that
 * is a path from the host's root (="/…) gets the base before it: the links, scripts and styles,
 * the login form's action and next, and the meta tag inquest-base, whose "/" becomes "/inquest/"
 * for base.js. The pages are ours and write every URL so. A <base> element would be one tag,
 * but the CSP forbids it (base-uri 'none'), and relative URLs would depend on the page's depth
 * (/console/analyses/ID draws the same page as /console/). Returns the text (owned by the
 * caller) and its length in '*len'. */
static char *render_under_base(const ig_console_asset *a, const char *base, int n, size_t *len) {
    static const char mark[] = "=\"/"; /* the base goes between the quote and the slash */
    const char *data = (const char *)a->data, *end = data + a->len, *from, *p;
    char *escaped = rt_xmalloc((size_t)n * 6 + 1);
    attribute_escape(base, n, escaped);
    size_t extra = strlen(escaped), count = 0, at = 0;
    for (from = data; (p = memmem(from, (size_t)(end - from), mark, 3)); from = p + 2)
        count++;
    char *out = rt_xmalloc(a->len + count * extra + 1);
    for (from = data; (p = memmem(from, (size_t)(end - from), mark, 3)); from = p + 2) {
        memcpy(out + at, from, (size_t)(p + 2 - from));
        at += (size_t)(p + 2 - from);
        memcpy(out + at, escaped, extra);
        at += extra;
    }
    memcpy(out + at, from, (size_t)(end - from));
    at += (size_t)(end - from);
    out[at] = '\0';
    free(escaped);
    *len = at;
    return out;
}

/* Answers 'req' with the console's HTML page 'name' (index.html, login.html) and 'status', under
 * the base path of external_url: byte for byte as built when it has none. */
static void send_page(ig_serve *s, rt_httpd_req *req, const char *name, int status) {
    const ig_console_asset *a = asset_named(name);
    const char *base;
    int n = ig_console_base(s, &base);
    if (!a) { /* a build without it is broken; say so rather than serve nothing */
        rt_httpd_error(req, 500, "internal", "the console's %s is not in this build", name);
        return;
    }
    if (n == 0) {
        send_asset(req, a, status);
        return;
    }
    char etag[128];
    size_t len;
    char *page = render_under_base(a, base, n, &len);
    etag_with_base(a, base, n, etag, sizeof etag);
    send_file(req, a->name, page, len, etag, status);
    free(page);
}

static void redirect(rt_httpd_req *req, int status, const char *location) {
    guard(req);
    rt_httpd_set_header(req, "Location", location);
    rt_httpd_set_header(req, "Cache-Control", "no-store");
    rt_httpd_respond(req, status, "text/plain; charset=utf-8", location, strlen(location));
}

static bool is_get(const rt_httpd_req *req) {
    return strcmp(req->method, "GET") == 0 || strcmp(req->method, "HEAD") == 0;
}

static void method_not_allowed(rt_httpd_req *req, const char *allow) {
    rt_httpd_set_header(req, "Allow", allow);
    rt_httpd_error(req, 405, "method_not_allowed", "%s is not allowed here (allowed: %s)",
                   req->method, allow);
}

/* ---- the login form -------------------------------------------------------------------------- */

/* Field 'name' of the form body of 'req' (application/x-www-form-urlencoded), decoded into 'out'
 * of 'size' bytes. Returns its length, or -1 when it is absent or malformed. */
static int form_field(const rt_httpd_req *req, const char *name, char *out, size_t size) {
    size_t n = strlen(name);
    const char *p = req->body, *end = req->body + req->body_len;
    while (p < end) {
        const char *amp = memchr(p, '&', (size_t)(end - p));
        size_t len = amp ? (size_t)(amp - p) : (size_t)(end - p);
        if (len > n && strncmp(p, name, n) == 0 && p[n] == '=')
            return rt_httpd_url_decode(p + n + 1, len - n - 1, true, out, size);
        if (len == n && strncmp(p, name, n) == 0) {
            *out = '\0';
            return 0;
        }
        p += len + 1;
    }
    return -1;
}

/* True when 'next' is a console page to go back to after a login: a path under BASE/console/
 * (BASE: the base path, ig_console_base) with no scheme, host, backslash or control character,
 * so that a crafted link cannot send a user who just logged in to another site; and no dot
 * segment, plain or escaped, which the browser would resolve out of the console
 * ("/console/../v1/x", "/inquest/console/../../elsewhere"). */
static bool safe_next(const ig_serve *s, const char *next) {
    const char *base;
    int n = ig_console_base(s, &base);
    if (strncmp(next, base, (size_t)n) != 0 || strncmp(next + n, "/console/", 9) != 0 ||
        strstr(next, "//") || strchr(next, '\\') || strstr(next, "/.") || strcasestr(next, "%2e"))
        return false;
    for (const unsigned char *p = (const unsigned char *)next; *p; p++)
        if (*p < 0x21 || *p == 0x7f)
            return false;
    return true;
}

/* The token whose secret is the 'n' bytes at 'presented', compared in constant time with each. */
static const ig_token *token_of_secret(const ig_serve *s, const char *presented, size_t n) {
    const ig_token *found = NULL;
    for (size_t i = 0; i < s->n_tokens; i++)
        if (s->tokens[i].secret && s->tokens[i].len == n &&
            CRYPTO_memcmp(s->tokens[i].secret, presented, n) == 0)
            found = &s->tokens[i];
    return found;
}

/* '?' or '&' then "next=" and 'next' %-encoded, appended to 'url' of 'size' bytes. */
static void append_next(char *url, size_t size, const char *next) {
    size_t n = strlen(url);
    n += (size_t)snprintf(url + n, size - n, "%cnext=", strchr(url, '?') ? '&' : '?');
    for (const unsigned char *p = (const unsigned char *)next; *p && n + 4 < size; p++) {
        if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
            strchr("/-_.~", *p))
            url[n++] = (char)*p;
        else
            n += (size_t)snprintf(url + n, size - n, "%%%02X", *p);
    }
    url[n < size ? n : size - 1] = '\0';
}

static void login(ig_serve *s, rt_httpd_req *req) {
    char next[NEXT_MAX] = "", location[NEXT_MAX * 4 + 64];
    char *secret = rt_xmalloc(FORM_FIELD_MAX);
    if (!ig_console_same_origin(s, req)) /* no login forced on a user by another site's form */
        goto out;
    if (form_field(req, "next", next, sizeof next) < 0 || !safe_next(s, next))
        at_base(s, "/console/", next, sizeof next);
    if (s->n_tokens == 0) { /* nothing to log in to: the API takes no tokens */
        redirect(req, 303, next);
        goto out;
    }
    int n = form_field(req, "token", secret, FORM_FIELD_MAX);
    const ig_token *token = n > 0 ? token_of_secret(s, secret, (size_t)n) : NULL;
    if (!token) {
        ig_log("warn", "console login refused", json_pack("{s:s}", "remote", req->remote));
        at_base(s, "/console/login?error=invalid", location, sizeof location);
        append_next(location, sizeof location, next);
        redirect(req, 303, location);
        goto out;
    }
    char cookie[IG_CONSOLE_COOKIE_MAX], header[IG_CONSOLE_SET_COOKIE_MAX];
    ig_session session;
    ig_console_session_new(s, token, cookie, &session);
    ig_console_cookie_header(s, cookie, s->config->console.session_ttl, header, sizeof header);
    rt_httpd_set_header(req, "Set-Cookie", header);
    ig_log("info", "console login",
           json_pack("{s:s, s:s}", "token", token->config->name, "remote", req->remote));
    redirect(req, 303, next);
out:
    OPENSSL_cleanse(secret, FORM_FIELD_MAX);
    free(secret);
}

/* Logout changes state (it ends a session), so it needs the session's CSRF token, from the form
 * field csrf (the console's logout button is a plain form) or the header. */
static void logout(ig_serve *s, rt_httpd_req *req) {
    char csrf[IG_CONSOLE_HEX + 8], header[IG_CONSOLE_SET_COOKIE_MAX], location[NEXT_MAX];
    ig_session session;
    if (!ig_console_same_origin(s, req))
        return;
    if (ig_console_session_read(s, req, &session)) {
        const char *h = rt_httpd_header(req, IG_CONSOLE_CSRF);
        int n = h ? (int)strlen(h) : form_field(req, "csrf", csrf, sizeof csrf);
        if (n < 0 || !ig_console_equal(h ? h : csrf, (size_t)n, session.csrf)) {
            guard(req);
            rt_httpd_error(req, 403, "csrf",
                           "logging out needs the session's CSRF token (form field csrf or the "
                           "%s header)",
                           IG_CONSOLE_CSRF);
            return;
        }
        ig_console_session_end(s, session.sid, session.expires);
        ig_log(
            "info", "console logout",
            json_pack("{s:s, s:s}", "token", session.token->config->name, "remote", req->remote));
    }
    ig_console_cookie_header(s, NULL, 0, header, sizeof header);
    rt_httpd_set_header(req, "Set-Cookie", header);
    at_base(s, "/console/login?logged_out=1", location, sizeof location);
    redirect(req, 303, location);
}

static json_t *strings_json(char *const *items, size_t n) {
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(a, json_string(items[i]));
    return a;
}

/* GET /console/session: who the pages act as, what the token may do and the CSRF token the
 * pages send back. Not cached: it holds the CSRF token. */
static void session_info(ig_serve *s, rt_httpd_req *req) {
    ig_session session;
    guard(req);
    rt_httpd_set_header(req, "Cache-Control", "no-store");
    if (s->n_tokens == 0) {
        rt_httpd_respond_json(req, 200,
                              json_pack("{s:b, s:n, s:n, s:{s:[s], s:[], s:[]}}", "auth", 0,
                                        "token", "csrf", "scopes", "analyzers", "*", "teams",
                                        "approve"));
        return;
    }
    if (!ig_console_session_read(s, req, &session)) {
        const char *base;
        int n = ig_console_base(s, &base);
        rt_httpd_error(req, 401, "unauthorized", "no console session: log in at %.*s/console/login",
                       n, base);
        return;
    }
    const rt_token *t = session.token->config;
    json_t *o = json_pack(
        "{s:b, s:s, s:s, s:{s:o, s:o, s:o}}", "auth", 1, "token", t->name, "csrf", session.csrf,
        "scopes", "analyzers", strings_json(t->analyzers, t->n_analyzers), "teams",
        strings_json(t->teams, t->n_teams), "approve", strings_json(t->approve, t->n_approve));
    char expires[40];
    rt_time_format(session.expires, expires);
    json_object_set_new(o, "expires_at", json_string(expires));
    rt_httpd_respond_json(req, 200, o);
}

/* ---- pages ----------------------------------------------------------------------------------- */

/* True when 'path' is one of the console's pages (the script's router draws it). */
static bool known_page(const char *path) {
    static const char *const pages[] = {"/console/",
                                        "/console/analyses",
                                        "/console/analyzers",
                                        "/console/actions",
                                        "/console/insights",
                                        "/console/backtests",
                                        NULL};
    static const char *const prefixes[] = {"/console/analyses/", "/console/analyzers/",
                                           "/console/backtests/", NULL};
    for (size_t i = 0; pages[i]; i++)
        if (strcmp(path, pages[i]) == 0)
            return true;
    for (size_t i = 0; prefixes[i]; i++) {
        size_t n = strlen(prefixes[i]);
        if (strncmp(path, prefixes[i], n) == 0 && path[n] && !strchr(path + n, '/'))
            return true;
    }
    return false;
}

/* A page: the app's shell, which draws the page from the path. Without a session (when tokens
 * are configured) the login form comes first, and then the page asked for. */
static void page(ig_serve *s, rt_httpd_req *req) {
    ig_session session;
    if (s->n_tokens > 0 && !ig_console_session_read(s, req, &session)) {
        char location[NEXT_MAX * 4 + 64], path[NEXT_MAX];
        const char *base;
        int n = ig_console_base(s, &base);
        at_base(s, "/console/login", location, sizeof location);
        snprintf(path, sizeof path, "%.*s%s%s%s", n, base, req->path, *req->query ? "?" : "",
                 req->query);
        if (safe_next(s, path) && strlen(path) < NEXT_MAX - 1)
            append_next(location, sizeof location, path);
        redirect(req, 303, location);
        return;
    }
    send_page(s, req, "index.html", known_page(req->path) ? 200 : 404);
}

bool ig_console_handle(ig_serve *s, rt_httpd_req *req) {
    const char *path = req->path;
    if (!s->console || !s->config->console.enabled)
        return false;
    if (strcmp(path, "/") == 0 || strcmp(path, "/console") == 0) {
        char location[NEXT_MAX];
        at_base(s, "/console/", location, sizeof location);
        if (is_get(req))
            redirect(req, 302, location);
        else
            method_not_allowed(req, "GET");
        return true;
    }
    if (strncmp(path, "/console/", 9) != 0)
        return false;
    const char *rest = path + 9;
    if (strcmp(rest, "login") == 0) {
        if (is_get(req))
            send_page(s, req, "login.html", 200);
        else if (strcmp(req->method, "POST") == 0)
            login(s, req);
        else
            method_not_allowed(req, "GET, POST");
    } else if (strcmp(rest, "logout") == 0) {
        if (strcmp(req->method, "POST") == 0)
            logout(s, req);
        else
            method_not_allowed(req, "POST");
    } else if (strcmp(rest, "session") == 0) {
        if (is_get(req))
            session_info(s, req);
        else
            method_not_allowed(req, "GET");
    } else if (strncmp(rest, "assets/", 7) == 0) {
        const ig_console_asset *a = asset_named(rest + 7);
        if (!is_get(req))
            method_not_allowed(req, "GET");
        else if (!a || strchr(rest + 7, '/'))
            rt_httpd_error(req, 404, "not_found", "no such asset: %s", path);
        else
            send_asset(req, a, 200);
    } else if (is_get(req))
        page(s, req);
    else
        method_not_allowed(req, "GET");
    return true;
}
