-- analyzers/host/saturation.lua -- which host ran out of CPU, memory or disk space, and since when?
-- Reads node_exporter's metrics of the hosts a selector picks, finds the hosts whose use of a
-- resource is at or above a threshold now, when it rose (a change point) and how unusual that
-- is (the anomaly detector, against three windows of history), and the deploy that may have
-- set it off. dependency.failure calls it for a dependency's hosts.
local inquest = require "inquest"
local t = inquest.types
local fmt = require "lib.fmt"
local span = require "lib.span"
local onset = require "lib.onset"
local deploys = require "lib.deploys"
local metrics = require "lib.metrics"
local evidence = require "lib.evidence"

-- What saturates, as the used fraction of each host's capacity (lib/metrics.lua).
local RESOURCES = {
  { name = "cpu", what = "CPU", root_cause = "host.cpu_saturation" },
  { name = "memory", what = "memory", root_cause = "host.memory_saturation" },
  { name = "disk", what = "disk space", root_cause = "host.disk_full" },
}

-- The mean of the last three points of 's': the level now, without one sample's noise.
local function level_now(s, to, step)
  return s:slice(to - 2 * step, nil):mean() or 0
end

-- The saturated hosts of one resource: { resource, series, level, cp, marks, fresh }; fresh
-- when the use rose in the window (a change point or an anomaly), not always high.
local function saturated(resource, set, input, to, step)
  local found = {}
  for _, s in ipairs(set) do
    local level = level_now(s, to, step)
    if level >= input.threshold then
      local recent = s:slice(to - 2 * input.window, nil)
      local cp = onset.find(recent, { from = to - input.window, min_ratio = 0.1, min_delta = 0.05 })
      local marks, anomalies = onset.anomalies(s, to - input.window, fmt.percent)
      found[#found + 1] = { resource = resource, series = s, level = level, cp = cp,
                            marks = marks, fresh = cp ~= nil or #anomalies > 0 }
    end
  end
  return found
end

-- A finding naming the host, the resource, since when, and the deploy before it if any.
local function report(ctx, hit, set)
  local host, r = hit.series:label("instance"), hit.resource
  local cp = hit.cp
  local since = cp and (" since %s (was %s)"):format(fmt.clock(cp.at), fmt.percent(cp.before)) or ""
  local marks = hit.marks
  if cp then table.insert(marks, 1, onset.mark(cp, r.what .. " used", fmt.percent)) end
  local summary = ("%s of %s is %s used%s."):format(r.what, host, fmt.percent(hit.level), since)
  local service = hit.series:label("service")
  if cp and service and service ~= "" then
    local ranked = deploys.rank(ctx, service, cp.at, { service = service })
    local suspect = deploys.suspect(ranked)
    if suspect then
      marks[#marks + 1] = suspect.evidence
      summary = summary .. " " .. inquest.summary(ranked)
    end
  end
  return {
    title = ("%s: %s at %s%s"):format(host, r.what, fmt.percent(hit.level), since),
    summary = summary,
    root_cause = r.root_cause,
    severity = hit.level >= 0.97 and "critical" or hit.fresh and "high" or "medium",
    confidence = hit.fresh and 0.85 or 0.5,
    evidence = {
      (hit.series * 100):evidence(("%s used on %s"):format(r.what, host), "%"),
      { kind = "events", title = "when it changed", items = marks },
      evidence.top(set, 10, 100):evidence(r.what .. " used, the fullest hosts", "%"),
    },
  }
end

return inquest.analyzer {
  name = "host.saturation",
  owner = "team-infra",
  description = "Which host ran out of CPU, memory or disk space, and since when?",
  tags = { "hosts", "saturation" },
  inputs = {
    selector = t.string { default = 'job="node"', max_length = 500,
      description = "PromQL label matchers that pick the hosts' node_exporter series, e.g. "
        .. 'job="node",service="payments-db"' },
    at = t.time { default = "now", description = "the time of the alert: the end of the window" },
    window = t.duration { default = "1h", min = "10m", max = "24h",
      description = "how far back the saturation may have started (two more windows are its history)" },
    threshold = t.number { default = 0.9, min = 0.5, max = 1,
      description = "the used fraction of a resource from which a host counts as saturated" },
  },
  run = function(ctx, input)
    local from, to, step = span.of(input, 3)
    local prom, queries = ctx.metrics("prom"), {}
    for _, r in ipairs(RESOURCES) do
      local q = metrics.expr(metrics.node[r.name], { sel = input.selector })
      queries[r.name] = function() return prom:range(q, from, to, step) end
    end
    local sets, failed = ctx:step("query", ctx.parallel, ctx, queries)
    for name, err in pairs(failed) do ctx.log.warn("%s: %s", name, err) end

    local hits = {}
    for _, r in ipairs(RESOURCES) do
      for _, hit in ipairs(sets[r.name] and saturated(r, sets[r.name], input, to, step) or {}) do
        hits[#hits + 1] = hit
      end
    end
    if #hits == 0 then
      if next(failed) or #(sets.cpu or {}) == 0 then
        return ctx:conclude("inconclusive", ("no node_exporter metrics of hosts {%s}"):format(input.selector))
      end
      return ctx:conclude("no_anomaly", ("no host picked by {%s} uses %s or more of its CPU, memory or "
        .. "disk"):format(input.selector, fmt.percent(input.threshold)))
    end
    -- Fresh saturation first (it rose in the window: the likelier cause), then the fullest.
    table.sort(hits, function(a, b)
      if a.fresh ~= b.fresh then return a.fresh end
      return a.level > b.level
    end)
    local findings = {}
    for i = 1, math.min(3, #hits) do
      findings[i] = report(ctx, hits[i], sets[hits[i].resource.name])
      ctx:finding(findings[i])
    end
    ctx:conclude("root_cause_found", inquest.summary(findings))
  end,
}
