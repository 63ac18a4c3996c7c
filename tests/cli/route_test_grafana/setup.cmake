# A route over Grafana and Alertmanager alerts alike, whose templates read labels and
# annotations; an analyzer that takes the summary as free text.
file(WRITE "${WORK}/analyzers/gf/summary.lua" "local inquest = require \"inquest\"
local t = inquest.types
return inquest.analyzer {
  name = \"gf.summary\",
  owner = \"team-inquest\",
  description = \"Takes an alert's summary as free text.\",
  inputs = {
    service = t.string { pattern = \"^[a-z0-9-]+$\" },
    team = t.string {},
    summary = t.string {},
  },
  run = function(ctx, input) ctx:conclude(\"noop\", input.summary) end,
}
")
file(WRITE "${WORK}/inquest.yaml" "routes:
  - name: latency
    sources: [alertmanager, grafana]
    match: [alertname=LatencyHigh]
    analyzer: gf.summary
    inputs: { service: \"{{ labels.service }}\", team: \"{{ labels.team }}\", summary: \"{{ annotations.summary }} ({{ annotations.description }})\" }
")
