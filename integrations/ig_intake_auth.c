/* integrations/ig_intake_auth.c -- who sent a webhook: the credential a source's auth expects in
 * its header, and PagerDuty's HMAC signatures. Pure functions over bytes, so they are unit-tested
 * alone; the server uses them in ig_intake.c. Every comparison of a secret is constant-time. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
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
    rt_config_secret_free((char *)plain, plain_len);
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

bool ig_signature_ok(const char *secret, size_t len, const void *body, size_t n,
                     const char *header) {
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int mac_len = 0;
    char hex[2 * EVP_MAX_MD_SIZE + 1];
    static const char digits[] = "0123456789abcdef";
    if (!header || !HMAC(EVP_sha256(), secret, (int)len, body, n, mac, &mac_len))
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
        if (end == 3 + 2 * (size_t)mac_len && strncmp(p, "v1=", 3) == 0) {
            char lower[2 * EVP_MAX_MD_SIZE];
            for (size_t i = 0; i < 2 * (size_t)mac_len; i++) {
                char c = p[3 + i];
                lower[i] = (char)(c >= 'A' && c <= 'F' ? c - 'A' + 'a' : c);
            }
            ok |= CRYPTO_memcmp(lower, hex, 2 * (size_t)mac_len) == 0;
        }
        p += item;
    }
    return ok;
}
