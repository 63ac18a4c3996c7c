file(WRITE "${WORK}/inquest.yaml" "routes:
  - name: by-alertname
    match: [alertname=HighErrorRate]
    analyzer: svc.noop
    inputs: { service: \"{{ labels.alertname }}\", region: \"{{ labels.region }}\" }
")
