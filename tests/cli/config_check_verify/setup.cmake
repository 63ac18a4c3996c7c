file(WRITE "${WORK}/inquest.yaml" "connectors:
  ops: { type: http, url: 'http://127.0.0.1:1' }
policies:
  - { name: all, services: ['*'], actions: [rollback] }
rules:
  - name: r
    actions:
      - { type: mitigation, connector: ops, name: rollback, verify: { analyzer: svc.noop } }
      - { type: mitigation, connector: ops, name: rollback, verify: { analyzer: svc.gone } }
      - { type: mitigation, connector: ops, name: restart }
")
