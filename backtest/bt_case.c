/* backtest/bt_case.c -- see bt.h. */
#include "bt.h"
