/* integrations/ig_cmd_client.c -- placeholder while it is written. */
#include "ig_cli.h"

#define NOT_YET(name)                                                                              \
    int ig_cmd_##name(int argc, char **argv) {                                                     \
        (void)argc, (void)argv;                                                                    \
        return ig_usage_error(#name, "not written yet");                                           \
    }
NOT_YET(submit)
NOT_YET(status)
NOT_YET(wait)
NOT_YET(result)
NOT_YET(cancel)
NOT_YET(ls)
