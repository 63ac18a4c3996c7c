-- analyzers/dependency/failure.lua -- is a service failing (or slow) because one of its
-- dependencies is? Finds when the service's 5xx ratio (or mean latency) rose, ranks the error
-- ratio and latency of its calls to each dependency by how well their change explains it
-- (inquest.correlate), and follows up with other analyzers (ctx:call): how it shows in the
-- service's logs, and the dependency's hosts and deploys; or, when no dependency moved, the
-- service's own.
local inquest = require "inquest"
local t = inquest.types
local S = inquest.series
local fmt = require "lib.fmt"
local span = require "lib.span"
local onset = require "lib.onset"

-- The service's own signal, and the same signal of its calls to each dependency ({s}: service).
local SIGNALS = {
  errors = { what = "5xx ratio", show = fmt.percent, scale = 100, unit = "%",
    own = 'sum(rate(http_requests_total{service="{s}",code=~"5.."}[5m])) / sum(rate(http_requests_total{service="{s}"}[5m]))' },
  latency = { what = "mean latency", show = fmt.seconds, scale = 1000, unit = "ms",
    own = 'sum(rate(http_request_duration_seconds_sum{service="{s}"}[5m])) / sum(rate(http_request_duration_seconds_count{service="{s}"}[5m]))' },
}
local CALLS = {
  { what = "error ratio", cause = "dependency_failure", show = fmt.percent, scale = 100, unit = "%", matches = "errors",
    query = 'sum by (dependency) (rate(dependency_requests_total{service="{s}",result="error"}[5m]))'
      .. ' / sum by (dependency) (rate(dependency_requests_total{service="{s}"}[5m]))' },
  { what = "latency", cause = "dependency_slow", show = fmt.seconds, scale = 1000, unit = "ms", matches = "latency",
    query = 'sum by (dependency) (rate(dependency_request_duration_seconds_sum{service="{s}"}[5m]))'
      .. ' / sum by (dependency) (rate(dependency_request_duration_seconds_count{service="{s}"}[5m]))' },
}

-- The follow-ups, by name: the inputs each takes, given the service, the subject (the
-- dependency that moved, else the service itself) and the input.
local FOLLOW = {
  ["logs.error_burst"] = function(service, _, input) return { service = service, at = input.at, window = input.window } end,
  ["host.saturation"] = function(_, subject, input)
    return { selector = ('job="node",service=%q'):format(subject), at = input.at, window = input.window }
  end,
  ["deploy.bad_rollout"] = function(_, subject, input) return { service = subject, at = input.at, window = input.window } end,
  ["http.error_spike"] = function(_, subject, input) return { service = subject, at = input.at, window = input.window } end,
}

-- The candidates: one series per dependency and signal, labelled by both.
local function candidates(sets)
  local list = {}
  for i, call in ipairs(CALLS) do
    for _, s in ipairs(sets[i] or {}) do
      list[#list + 1] = S.new { labels = { dependency = s:label("dependency"), signal = call.what },
                                times = s:times(), values = s:values() }
    end
  end
  return S.set(list)
end

-- The candidate that explains the rise: the best ranked that moved the same way, by itself
-- (robust z of its change at least 3) and well enough; of one dependency's signals, the one
-- that is the service's own (a 5xx ratio follows calls that fail before calls that slow).
local function pick(moved, input)
  local function fits(m)
    return m.score >= input.min_score and m.direction == "same" and (m.shift or 0) >= 3
  end
  local best = moved[1]
  if not (best and fits(best)) then return nil end
  for _, m in ipairs(moved) do
    local call = m.labels.signal == "latency" and CALLS[2] or CALLS[1]
    if m.labels.dependency == best.labels.dependency and call.matches == input.signal and fits(m) then
      return m, call
    end
  end
  return best, best.labels.signal == "latency" and CALLS[2] or CALLS[1]
end

-- The median of 's' before 'at' and after it: how the dependency moved.
local function levels(s, at, step)
  return s:slice(nil, at - step):quantile(0.5), s:slice(at + step, nil):quantile(0.5)
end

-- Runs the follow-ups of input.follow on 'subject'; returns their findings (copied, a notch
-- lower: they support this analyzer's finding) and their summaries.
local function follow(ctx, input, subject)
  local found, words = {}, {}
  for _, name in ipairs(input.follow) do
    local ok, r = pcall(ctx.call, ctx, name, FOLLOW[name](input.service, subject, input))
    if not ok then
      ctx.log.warn("%s: %s", name, r)
    elseif r.status ~= "ok" then
      ctx.log.warn("%s ended with %s", name, r.status)
    else
      local f = r.findings and r.findings[1]
      if f then
        words[#words + 1] = ("%s found: %s (%s)."):format(name, f.title, f.root_cause or "no root cause")
        found[#found + 1] = { title = f.title, root_cause = f.root_cause, severity = "medium",
          confidence = (f.confidence or 0.5) * 0.9, evidence = f.evidence,
          summary = ("Found by %s: %s"):format(name, f.summary or f.title) }
      end
    end
  end
  return found, words
end

return inquest.analyzer {
  name = "dependency.failure",
  owner = "team-sre",
  description = "Is a service failing or slow because one of its dependencies is? Which one, since when, and why.",
  tags = { "dependencies", "http" },
  inputs = {
    service = t.string { pattern = "^[a-z0-9-]+$", description = "the service whose errors or latency rose" },
    at = t.time { default = "now", description = "the time of the alert: the end of the window" },
    window = t.duration { default = "1h", min = "10m", max = "6h",
      description = "how far back the rise may have started (two more windows are its history)" },
    signal = t.enum { "errors", "latency", default = "errors",
      description = "what rose: the service's 5xx ratio, or its mean latency" },
    follow = t.list { t.enum { "logs.error_burst", "host.saturation", "deploy.bad_rollout", "http.error_spike" },
      default = "logs.error_burst,host.saturation", max = 4,
      description = "analyzers to follow up with: logs.error_burst on the service; the others on the "
        .. "dependency that moved (its hosts: service label of node_exporter), else on the service" },
    min_score = t.number { default = 0.5, min = 0, max = 1,
      description = "the least correlation score of a dependency that explains the rise" },
  },
  run = function(ctx, input)
    local from, to, step = span.of(input, 3)
    local prom, signal = ctx.metrics("prom"), SIGNALS[input.signal]
    local function q(text) return (text:gsub("{s}", input.service)) end
    local got, failed = ctx:step("query", ctx.parallel, ctx, {
      own = function() return prom:range(q(signal.own), from, to, step) end,
      function() return prom:range(q(CALLS[1].query), from, to, step) end,
      function() return prom:range(q(CALLS[2].query), from, to, step) end,
    })
    for name, err in pairs(failed) do ctx.log.warn("%s: %s", name, err) end
    local own = got.own and got.own[1]
    if not own then return ctx:conclude("inconclusive", ("the %s of %s could not be read"):format(signal.what, input.service)) end

    local cp = onset.find(own, { from = to - input.window, min_ratio = 0.3,
                                 min_delta = input.signal == "errors" and 0.002 or 0 })
    if not cp then
      return ctx:conclude("no_anomaly", ("the %s of %s did not rise in the last %dm")
        :format(signal.what, input.service, input.window // 60))
    end
    local moved = inquest.correlate.rank(own, candidates(got), { onset = cp.at, top = 0 }) or {}
    local best, call = pick(moved, input)
    local mark = onset.mark(cp, input.service .. "'s " .. signal.what, signal.show)
    local findings, words = follow(ctx, input, best and best.labels.dependency or input.service)
    if best then
      local before, after = levels(best.series, cp.at, step)
      local rows = {}
      for i = 1, math.min(8, #moved) do
        local m = moved[i]
        rows[i] = { m.labels.dependency, m.labels.signal, ("%.2f"):format(m.score), m.direction, m.lag }
      end
      table.insert(findings, 1, {
        title = ("%s's %s follows %s: its %s went from %s to %s at %s"):format(input.service, signal.what,
          best.labels.dependency, call.what, call.show(before), call.show(after), fmt.clock(cp.at)),
        root_cause = call.cause, severity = "high", confidence = math.min(0.9, best.score),
        summary = table.concat({ inquest.summary(moved), table.unpack(words) }, " "),
        evidence = {
          (own * signal.scale):evidence(("%s of %s"):format(signal.what, input.service), signal.unit),
          (best.series * call.scale):evidence(("%s of %s's calls to %s"):format(call.what, input.service,
            best.labels.dependency), call.unit),
          { kind = "events", title = "onset", items = { mark } },
          { kind = "table", title = "dependencies by how well they explain the rise",
            columns = { "dependency", "signal", "score", "direction", "lag (s)" }, rows = rows },
        },
      })
    end
    for _, f in ipairs(findings) do ctx:finding(f) end
    local tag = best and "root_cause_found" or (#findings > 0 and "no_dependency" or "inconclusive")
    ctx:conclude(tag, best and table.concat({ inquest.summary(findings[1]), table.unpack(words) }, " ")
      or ("No dependency of %s moved with its %s from %s. %s"):format(input.service, signal.what,
        fmt.clock(cp.at), table.concat(words, " ")))
  end,
}
