/* integrations/ig_cmd_serve.c -- placeholder while it is written. */
#include "ig_cli.h"

int ig_cmd_serve(int argc, char **argv) {
    (void)argc, (void)argv;
    return ig_usage_error("serve", "not written yet");
}
