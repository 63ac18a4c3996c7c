# Secret files as an operator may leave them: one that group and others may read, one of mode
# 0600, and a device (not judged: its mode says nothing of the secret).
file(WRITE "${WORK}/open" "an-open-secret-token-of-32-chars\n")
file(CHMOD "${WORK}/open" FILE_PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ)
file(WRITE "${WORK}/private" "a-private-secret-token-32-chars\n")
file(CHMOD "${WORK}/private" FILE_PERMISSIONS OWNER_READ OWNER_WRITE)
file(WRITE "${WORK}/inquest.yaml" "redis: { url: \"redis://127.0.0.1:6379\" }
tokens:
  ops:
    token_file: ${WORK}/open
    analyzers: [\"*\"]
  ci:
    token_file: ${WORK}/private
    analyzers: [\"*\"]
connectors:
  prom:
    type: prometheus
    url: https://prometheus.example.com
    auth: { type: bearer, token_file: /dev/null }
")
