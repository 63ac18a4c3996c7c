/* backtest/bt_run.c -- see bt.h. */
#include "bt.h"
