/* backtest/bt_report.c -- see bt.h. */
#include "bt.h"
