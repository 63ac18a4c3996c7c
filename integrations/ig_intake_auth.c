/* integrations/ig_intake_auth.c -- who sent a webhook: the credential a source's auth expects in
 * its header, and the HMAC signatures of PagerDuty and Grafana. Pure functions over bytes, so they
 * are unit-tested alone; the server uses them in ig_intake.c. Every comparison of a secret is
 * constant-time. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/core_names.h>
#include <openssl/params.h>
#include "ig_intake.h"

char *ig_auth_expected(const rt_auth *auth, const char *secret, size_t len) {
    if (auth->type == RT_AUTH_HEADER)
        return rt_xstrndup(secret, len);
    if (auth->type == RT_AUTH_BEARER) {
        char *v = rt_xmalloc(len + 8);
        memcpy(v, "Bearer ", 7);
        memcpy(v + 7, secret, len);
        v[len + 7] = '\0';
        return v;
    }
    /* basic: "Basic " then base64 of "user:password" */
    size_t user = auth->username ? strlen(auth->username) : 0, plain_len = user + 1 + len;
    unsigned char *plain = rt_xmalloc(plain_len + 1);
    memcpy(plain, auth->username ? auth->username : "", user);
    plain[user] = ':';
    memcpy(plain + user + 1, secret, len);
    char *v = rt_xmalloc(6 + 4 * ((plain_len + 2) / 3) + 1);
    memcpy(v, "Basic ", 6);
    EVP_EncodeBlock((unsigned char *)v + 6, plain, (int)plain_len);
    rt_secret_free((char *)plain, plain_len);
    return v;
}

/* The SHA-256 of the NUL-terminated 's' into 'out' (32 bytes). */
static bool digest(const char *s, unsigned char *out) {
    unsigned int n = 0;
    return EVP_Digest(s, strlen(s), out, &n, EVP_sha256(), NULL) == 1 && n == 32;
}

bool ig_auth_ok(const char *expected, const char *presented) {
    unsigned char want[32], got[32];
    if (!expected || !presented || !*expected)
        return false;
    /* Digests of both have one length whatever was presented, so neither the time of the
     * comparison nor an early length check tells how long the secret is. */
    if (!digest(expected, want) || !digest(presented, got))
        return false;
    return CRYPTO_memcmp(want, got, sizeof want) == 0;
}

/* The HMAC-SHA256 under 'key' of "'timestamp':" (when not NULL) and the 'n' bytes at 'body',
 * into 'out' (EVP_MAX_MD_SIZE bytes). Returns its length, 0 on failure. */
static size_t hmac_sha256(const char *key, size_t len, const char *timestamp, const void *body,
                          size_t n, unsigned char *out) {
    EVP_MAC *mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
    EVP_MAC_CTX *ctx = mac ? EVP_MAC_CTX_new(mac) : NULL;
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)"SHA256", 0),
        OSSL_PARAM_construct_end(),
    };
    size_t out_len = 0;
    bool ok =
        ctx && EVP_MAC_init(ctx, (const unsigned char *)key, len, params) &&
        (!timestamp || (EVP_MAC_update(ctx, (const unsigned char *)timestamp, strlen(timestamp)) &&
                        EVP_MAC_update(ctx, (const unsigned char *)":", 1))) &&
        EVP_MAC_update(ctx, body, n) && EVP_MAC_final(ctx, out, &out_len, EVP_MAX_MD_SIZE);
    EVP_MAC_CTX_free(ctx);
    EVP_MAC_free(mac);
    return ok ? out_len : 0;
}

bool ig_timestamp_fresh(const char *value, double now) {
    char *end = NULL;
    if (!value || !*value)
        return false;
    double t = strtod(value, &end);
    if (end == value || *end)
        return false;
    return t > now - IG_TIMESTAMP_SKEW && t < now + IG_TIMESTAMP_SKEW;
}

bool ig_signature_ok(const char *secret, size_t len, rt_signature_format format,
                     const char *timestamp, const void *body, size_t n, const char *header) {
    unsigned char mac[EVP_MAX_MD_SIZE];
    char hex[2 * EVP_MAX_MD_SIZE + 1];
    static const char digits[] = "0123456789abcdef";
    const char *prefix = format == RT_SIGNATURE_V1 ? "v1=" : "";
    size_t skip = strlen(prefix);
    if (!header || len == 0)
        return false;
    size_t mac_len = hmac_sha256(secret, len, timestamp, body, n, mac);
    if (mac_len == 0)
        return false;
    for (unsigned i = 0; i < mac_len; i++) {
        hex[2 * i] = digits[mac[i] >> 4];
        hex[2 * i + 1] = digits[mac[i] & 15];
    }
    hex[2 * mac_len] = '\0';
    bool ok = false;
    /* Every candidate is compared, so the time does not say which one matched. */
    for (const char *p = header; *p;) {
        while (*p == ' ' || *p == ',')
            p++;
        size_t item = strcspn(p, ",");
        size_t end = item;
        while (end > 0 && p[end - 1] == ' ')
            end--;
        if (end == skip + 2 * mac_len && strncmp(p, prefix, skip) == 0) {
            char lower[2 * EVP_MAX_MD_SIZE];
            for (size_t i = 0; i < 2 * mac_len; i++) {
                char c = p[skip + i];
                lower[i] = (char)(c >= 'A' && c <= 'F' ? c - 'A' + 'a' : c);
            }
            ok |= CRYPTO_memcmp(lower, hex, 2 * mac_len) == 0;
        }
        p += item;
    }
    return ok;
}
