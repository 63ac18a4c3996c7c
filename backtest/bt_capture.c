/* backtest/bt_capture.c -- see bt.h. */
#include "bt.h"
