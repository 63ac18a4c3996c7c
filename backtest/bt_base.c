/* backtest/bt_base.c -- see bt.h. */
#include "bt.h"
