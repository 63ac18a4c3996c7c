/* sdk/sdk_series.c -- placeholder, being written. */
