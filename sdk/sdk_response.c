/* sdk/sdk_response.c -- placeholder, being written. */
