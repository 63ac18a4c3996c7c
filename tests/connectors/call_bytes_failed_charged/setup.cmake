# tests/connectors/call_bytes_failed_charged: mock_http with a 1 MiB cap on each answer, and
# 1.5 MiB of answers for the analysis.
file(WRITE "${WORK}/inquest.yaml" "connectors:
  mock:
    type: http
    url: ${MOCK_URL}
    max_response: 1MiB
limits:
  call_bytes: 1536KiB
")
