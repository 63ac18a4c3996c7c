/* runtime/rt_error.c -- error codes and their messages, from the one table in rt.h. */
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
