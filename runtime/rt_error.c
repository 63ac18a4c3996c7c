/* runtime/rt_error.c -- error codes and their messages, from the one table in rt.h. */
#include <string.h>
#include "rt.h"

const char *rt_strerror(int rc) {
    switch (rc) {
    case RT_OK:
        return "success";
#define XX(name, msg)                                                                              \
    case RT_##name:                                                                                \
        return msg;
        RT_ERRNO_MAP(XX)
#undef XX
    }
    return "unknown error";
}

const char *rt_errname(int rc) {
    switch (rc) {
    case RT_OK:
        return "OK";
#define XX(name, msg)                                                                              \
    case RT_##name:                                                                                \
        return #name;
        RT_ERRNO_MAP(XX)
#undef XX
    }
    return "EUNKNOWN";
}

int rt_errcode_of(const char *msg, const char **rest) {
    static const int codes[] = {
#define XX(name, text) RT_##name,
        RT_ERRNO_MAP(XX)
#undef XX
    };
    for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++) {
        const char *name = rt_errname(codes[i]);
        size_t n = strlen(name);
        if (strncmp(msg, name, n) == 0 && msg[n] == ' ') {
            *rest = msg + n + 1;
            return codes[i];
        }
    }
    *rest = msg;
    return RT_EBACKEND;
}
