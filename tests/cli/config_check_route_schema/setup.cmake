file(WRITE "${WORK}/inquest.yaml" "routes:
  - name: ok
    match: [alertname=A]
    analyzer: svc.noop
    inputs: { service: \"{{ labels.service }}\" }
  - name: missing
    match: [alertname=B]
    analyzer: svc.nope
  - name: literal
    match: [alertname=C]
    analyzer: svc.noop
    inputs: { service: \"Not Valid\", n: \"-1\" }
")
