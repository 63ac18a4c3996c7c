# tests/connectors/call_bytes_in_flight: mock_http, and 1 MiB of answers for the analysis.
file(WRITE "${WORK}/inquest.yaml" "connectors:
  mock:
    type: http
    url: ${MOCK_URL}
limits:
  call_bytes: 1MiB
")
