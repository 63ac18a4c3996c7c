file(WRITE "${WORK}/inquest.yaml" "connectors:
  ops: { type: http, url: 'http://127.0.0.1:1' }
rules:
  - name: r
    actions:
      - { type: incident_note, connector: ops, args: { tool: '{{ labels.tool }}', from: a@b.c } }
      - { type: incident_note, connector: ops, args: { tool: pagerduti } }
      - { type: silence, connector: ops, args: { matchers: 'a=b, c', duration: forever } }
      - { type: silence, connector: ops, args: { matchers: 'a={{ labels.a }}', duration: 0s } }
      - { type: ticket, connector: ops, args: { tracker: gitlab } }
")
