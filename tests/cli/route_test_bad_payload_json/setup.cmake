# A malformed payload, and routes whose analyzers are not on the (empty) analyzer path: with
# --json, both are in the one JSON object and nothing else is on stdout.
file(MAKE_DIRECTORY "${WORK}/no-analyzers")
file(WRITE "${WORK}/bad.json" "{\"version\":\"4\",\"alerts\":[{\"status\":\"firing\",\"labels\":{}},{\"status\":\"firing\",\"labels\":[\"x\"]}]}")
