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
local metrics = require "lib.metrics"
local follow = require "lib.follow"
local evidence = require "lib.evidence"

-- The service's own signal, and the same signal of its calls to each dependency.
local SIGNALS = {
  errors = { what = "5xx ratio", show = fmt.percent, scale = 100, unit = "%",
             query = metrics.http.error_ratio },
  latency = { what = "mean latency", show = fmt.seconds, scale = 1000, unit = "ms",
              query = metrics.http.mean_latency },
}
local CALLS = {
  { what = "error ratio", cause = "dependency_failure", show = fmt.percent, scale = 100, unit = "%",
    matches = "errors", query = metrics.calls.error_ratio },
  { what = "latency", cause = "dependency_slow", show = fmt.seconds, scale = 1000, unit = "ms",
    matches = "latency", query = metrics.calls.latency },
}
local CALL = { [CALLS[1].what] = CALLS[1], [CALLS[2].what] = CALLS[2] }

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
    if m.labels.dependency == best.labels.dependency and CALL[m.labels.signal].matches == input.signal
        and fits(m) then
      return m, CALL[m.labels.signal]
    end
  end
  return best, CALL[best.labels.signal]
end

-- The finding that blames dependency 'best' (its signal 'call') for the rise of 'own' at
-- change point 'cp'; 'words' are the follow-ups' sentences.
local function blame(input, signal, own, cp, moved, best, call, words)
  local dep, s = best.labels.dependency, best.series
  local before, after = s:slice(nil, cp.at - 1):quantile(0.5), s:slice(cp.at, nil):quantile(0.5)
  return {
    title = ("%s's %s follows %s: its %s went from %s to %s at %s"):format(input.service,
      signal.what, dep, call.what, call.show(before), call.show(after), fmt.clock(cp.at)),
    root_cause = call.cause, severity = "high", confidence = math.min(0.9, best.score),
    summary = table.concat({ inquest.summary(moved), table.unpack(words) }, " "),
    evidence = {
      (own * signal.scale):evidence(("%s of %s"):format(signal.what, input.service), signal.unit),
      (s * call.scale):evidence(("%s of %s's calls to %s"):format(call.what, input.service, dep),
                                call.unit),
      { kind = "events", title = "onset",
        items = { onset.mark(cp, input.service .. "'s " .. signal.what, signal.show) } },
      evidence.table("dependencies by how well they explain the rise",
        { "dependency", "signal", "score", "direction", "lag (s)" }, moved, function(m)
          return { m.labels.dependency, m.labels.signal, ("%.2f"):format(m.score), m.direction, m.lag }
        end),
    },
  }
end

return inquest.analyzer {
  name = "dependency.failure",
  owner = "team-sre",
  description = "Is a service failing or slow because one of its dependencies is? Which one, "
    .. "since when, and why.",
  tags = { "dependencies", "http" },
  inputs = {
    service = t.string { pattern = "^[a-z0-9-]+$",
      description = "the service whose errors or latency rose" },
    at = t.time { default = "now", description = "the time of the alert: the end of the window" },
    window = t.duration { default = "1h", min = "10m", max = "6h",
      description = "how far back the rise may have started (two more windows are its history)" },
    signal = t.enum { "errors", "latency", default = "errors",
      description = "what rose: the service's 5xx ratio, or its mean latency" },
    follow = t.list { t.enum(follow.names()),
      default = "logs.error_burst,host.saturation", max = 4,
      description = "analyzers to follow up with: logs.error_burst on the service; the others on the "
        .. "dependency that moved (its hosts: service label of node_exporter), else on the service" },
    min_score = t.number { default = 0.5, min = 0, max = 1,
      description = "the least correlation score of a dependency that explains the rise" },
  },
  run = function(ctx, input)
    local from, to, step = span.of(input, 3)
    local prom, signal = ctx.metrics("prom"), SIGNALS[input.signal]
    local function range(template)
      return prom:range(metrics.expr(template, { service = input.service }), from, to, step)
    end
    local got, failed = ctx:step("query", ctx.parallel, ctx, {
      own = function() return range(signal.query) end,
      function() return range(CALLS[1].query) end,
      function() return range(CALLS[2].query) end,
    })
    for name, err in pairs(failed) do ctx.log.warn("%s: %s", name, err) end
    local own = got.own and got.own[1]
    if not own then
      return ctx:conclude("inconclusive", ("the %s of %s could not be read%s"):format(signal.what,
        input.service, got.own and ": no series" or ""))
    end

    -- When the service's signal rose, and which dependency's calls moved with it.
    local cp = onset.find(own, { from = to - input.window, min_ratio = 0.3,
                                 min_delta = input.signal == "errors" and 0.002 or 0 })
    if not cp then
      return ctx:conclude("no_anomaly", ("the %s of %s did not rise in the last %dm")
        :format(signal.what, input.service, input.window // 60))
    end
    local moved = inquest.correlate.rank(own, candidates(got), { onset = cp.at, top = 0 }) or {}
    local best, call = pick(moved, input)

    -- Then the follow-ups, on the dependency that moved, else on the service itself.
    local findings, words = follow.run(ctx, input.follow, input.service,
      best and best.labels.dependency or input.service, input)
    if best then table.insert(findings, 1, blame(input, signal, own, cp, moved, best, call, words)) end
    for _, f in ipairs(findings) do ctx:finding(f) end
    if best then
      return ctx:conclude("root_cause_found",
        table.concat({ inquest.summary(findings[1]), table.unpack(words) }, " "))
    end
    table.insert(words, 1, ("No dependency of %s moved with its %s from %s."):format(input.service,
      signal.what, fmt.clock(cp.at)))
    ctx:conclude(#findings > 0 and "no_dependency" or "inconclusive", table.concat(words, " "))
  end,
}
