/* backtest/bt_score.c -- see bt.h. */
#include "bt.h"
