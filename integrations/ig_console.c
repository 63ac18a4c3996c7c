/* integrations/ig_console.c -- the web console's routes in `inquest serve` (docs/console.md): the
 * pages and assets built into the binary from integrations/console/, the login form and logout,
 * and GET /console/session for the pages' scripts. The pages read and change everything through
 * the /v1 API (ig_api.c) with the session cookie and its CSRF token, so the console and the API
 * are one code path; sessions themselves are ig_console_session.c.
 *
 * Every answer here carries a strict Content-Security-Policy: scripts and styles only from
 * /console/assets/, no inline code, nothing from elsewhere, no framing. Pages hold no secret:
 * the CSRF token is fetched by script from /console/session. */
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

/* Answers 'req' with asset 'a' and 'status': revalidated with its ETag at every use (no-cache),
 * so that a new build's assets are seen at once and an unchanged one costs a 304. */
static void send_asset(rt_httpd_req *req, const ig_console_asset *a, int status) {
    guard(req);
    rt_httpd_set_header(req, "ETag", a->etag);
    rt_httpd_set_header(req, "Cache-Control", "no-cache");
    if (status == 200 && not_modified(req, a->etag))
        rt_httpd_respond(req, 304, NULL, NULL, 0);
    else
        rt_httpd_respond(req, status, content_type(a->name), a->data, a->len);
}

static void send_named(rt_httpd_req *req, const char *name, int status) {
    const ig_console_asset *a = asset_named(name);
    if (!a) { /* a build without it is broken; say so rather than serve nothing */
        rt_httpd_error(req, 500, "internal", "the console's %s is not in this build", name);
        return;
    }
    send_asset(req, a, status);
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

/* True when 'next' is a console page to go back to after a login: a path under /console/ with
 * no scheme, host, backslash or control character, so that a crafted link cannot send a user
 * who just logged in to another site; and no dot segment, plain or escaped, which the browser
 * would resolve out of /console/ ("/console/../v1/x"). */
static bool safe_next(const char *next) {
    if (strncmp(next, "/console/", 9) != 0 || strstr(next, "//") || strchr(next, '\\') ||
        strstr(next, "/.") || strcasestr(next, "%2e"))
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
    char next[NEXT_MAX] = "", location[NEXT_MAX * 3 + 64];
    char *secret = rt_xmalloc(FORM_FIELD_MAX);
    if (!ig_console_same_origin(s, req)) /* no login forced on a user by another site's form */
        goto out;
    if (form_field(req, "next", next, sizeof next) < 0 || !safe_next(next))
        snprintf(next, sizeof next, "/console/");
    if (s->n_tokens == 0) { /* nothing to log in to: the API takes no tokens */
        redirect(req, 303, next);
        goto out;
    }
    int n = form_field(req, "token", secret, FORM_FIELD_MAX);
    const ig_token *token = n > 0 ? token_of_secret(s, secret, (size_t)n) : NULL;
    if (!token) {
        ig_log("warn", "console login refused", json_pack("{s:s}", "remote", req->remote));
        snprintf(location, sizeof location, "/console/login?error=invalid");
        append_next(location, sizeof location, next);
        redirect(req, 303, location);
        goto out;
    }
    char cookie[IG_CONSOLE_COOKIE_MAX], header[IG_CONSOLE_COOKIE_MAX + 128];
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
    char csrf[IG_CONSOLE_HEX + 8], header[256];
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
    redirect(req, 303, "/console/login?logged_out=1");
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
        rt_httpd_error(req, 401, "unauthorized", "no console session: log in at /console/login");
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
        char location[NEXT_MAX * 3 + 64] = "/console/login";
        char path[NEXT_MAX];
        snprintf(path, sizeof path, "%s%s%s", req->path, *req->query ? "?" : "", req->query);
        if (safe_next(path) && strlen(path) < NEXT_MAX - 1)
            append_next(location, sizeof location, path);
        redirect(req, 303, location);
        return;
    }
    send_named(req, "index.html", known_page(req->path) ? 200 : 404);
}

bool ig_console_handle(ig_serve *s, rt_httpd_req *req) {
    const char *path = req->path;
    if (!s->console || !s->config->console.enabled)
        return false;
    if (strcmp(path, "/") == 0 || strcmp(path, "/console") == 0) {
        if (is_get(req))
            redirect(req, 302, "/console/");
        else
            method_not_allowed(req, "GET");
        return true;
    }
    if (strncmp(path, "/console/", 9) != 0)
        return false;
    const char *rest = path + 9;
    if (strcmp(rest, "login") == 0) {
        if (is_get(req))
            send_named(req, "login.html", 200);
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
