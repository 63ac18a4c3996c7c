/* integrations/ig_cmd_worker.c -- placeholder while it is written. */
#include "ig_cli.h"

int ig_cmd_worker(int argc, char **argv) {
    (void)argc, (void)argv;
    return ig_usage_error("worker", "not written yet");
}
