/* workers/wk_connectors.c -- placeholder */
