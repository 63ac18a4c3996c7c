-- analyzers/latency/regression.lua -- why did a service's latency rise? When, where, after what.
-- The onset is the change point of the service's latency quantile; the culprit is the label
-- values (endpoint, region, version, instance…) that explain the rise of the mean latency
-- (sum / count of the request-duration histogram, a ratio: traffic moving to slower endpoints
-- is told apart); the trigger is the deploy the event ranking puts first, when one is close.
local inquest = require "inquest"
local t = inquest.types
local fmt = require "lib.fmt"
local span = require "lib.span"
local onset = require "lib.onset"
local deploys = require "lib.deploys"

-- Labels that name one machine: a culprit of these alone is a slow host, not slow code.
local HOST_LABELS = { instance = true, host = true, pod = true, node = true }

local function only_hosts(labels)
  for name in pairs(labels) do
    if not HOST_LABELS[name] then return false end
  end
  return next(labels) ~= nil
end

-- The mean latency of the series of 'sums' and 'counts' that match 'labels', in seconds.
local function mean_of(sums, counts, labels)
  local s = sums:filter(labels):total() / counts:filter(labels):total()
  return inquest.series.new { labels = labels, times = s:times(), values = s:values() }
end

-- What the dimension analysis says, in words (inquest.summary writes a ratio as a share,
-- which a latency is not).
local function explain(where)
  local text = ("The mean latency went from %s to %s"):format(fmt.seconds(where.baseline), fmt.seconds(where.incident))
  local e = where[1]
  if where.widespread or not e then return text .. ", alike everywhere." end
  return text .. (": %s explains %s of the rise (%s to %s, on %s of the traffic)."):format(e.where,
    fmt.percent(e.explains), fmt.seconds(e.baseline), fmt.seconds(e.incident), fmt.percent(e.traffic))
end

-- A table of the dimension analysis' first items: where, mean latency before and after, share.
local function culprit_table(where)
  local rows = {}
  for i = 1, math.min(5, #where) do
    local e = where[i]
    rows[i] = { e.where, fmt.seconds(e.baseline), fmt.seconds(e.incident),
                fmt.percent(e.explains), ("%.2f"):format(e.score) }
  end
  return { kind = "table", title = "where the mean latency rose",
           columns = { "where", "before", "after", "share of the rise", "score" }, rows = rows }
end

return inquest.analyzer {
  name = "latency.regression",
  owner = "team-edge",
  description = "Why did a service's latency rise? Since when, where (endpoint, region, version, host) and after which deploy.",
  tags = { "http", "latency", "slo" },
  inputs = {
    service = t.string { pattern = "^[a-z0-9-]+$", description = "the service (label service of its http_request_duration_seconds histogram)" },
    at = t.time { default = "now", description = "the time of the alert: the end of the window" },
    window = t.duration { default = "1h", min = "10m", max = "24h",
      description = "how far back the rise may have started (as much again before it is the baseline)" },
    quantile = t.number { default = 0.99, min = 0.5, max = 0.999, description = "the latency quantile watched" },
    by = t.list { t.string { pattern = "^[a-zA-Z_][a-zA-Z0-9_]*$" }, default = "endpoint,region,version,instance",
      min = 1, max = 8, description = "the labels the culprit is looked for by" },
    min_increase = t.number { default = 0.3, min = 0.05, max = 100,
      description = "the least rise of the quantile that counts, relative (0.3: 30%)" },
  },
  run = function(ctx, input)
    local from, to, step = span.of(input, 2)
    local prom, sel = ctx.metrics("prom"), ("{service=%q}"):format(input.service)
    local by = table.concat(input.by, ", ")
    local got, failed = ctx:step("query", ctx.parallel, ctx, {
      quantile = function()
        return prom:range(("histogram_quantile(%g, sum by (le) (rate(http_request_duration_seconds_bucket%s[5m])))")
          :format(input.quantile, sel), from, to, step)
      end,
      sums = function()
        return prom:range(("sum by (%s) (rate(http_request_duration_seconds_sum%s[5m]))"):format(by, sel), from, to, step)
      end,
      counts = function()
        return prom:range(("sum by (%s) (rate(http_request_duration_seconds_count%s[5m]))"):format(by, sel), from, to, step)
      end,
    })
    for name, err in pairs(failed) do ctx.log.warn("%s: %s", name, err) end
    local q = got.quantile and got.quantile[1]
    if not (q and got.sums and got.counts) then
      return ctx:conclude("inconclusive", ("the latency of %s could not be read"):format(input.service))
    end

    -- When: the first rise of the quantile in the window, large enough to matter.
    local name = ("p%g latency"):format(100 * input.quantile)
    local cp = onset.find(q, { from = to - input.window, min_ratio = input.min_increase })
    if not cp then
      return ctx:conclude("no_anomaly", ("the %s of %s did not rise by %s or more in the last %dm")
        :format(name, input.service, fmt.percent(input.min_increase), input.window // 60))
    end

    -- Where: the elements that explain the mean latency's rise; then the deploy that fits.
    local where = inquest.dimensions.explain_ratio(got.sums, got.counts,
      { onset = cp.at, name = "the mean latency" }) or {}
    local culprit = not where.widespread and where[1] or nil
    local scope = { service = input.service }
    for k, v in pairs(culprit and culprit.labels or {}) do
      if k == "region" or k == "version" then scope[k] = v end
    end
    local ranked = deploys.rank(ctx, input.service, cp.at, scope)
    local suspect = deploys.suspect(ranked)

    local place = culprit and culprit.where or "everywhere"
    local title = ("%s of %s %s (%s to %s) from %s on %s"):format(name, input.service,
      fmt.times(cp.after, cp.before), fmt.seconds(cp.before), fmt.seconds(cp.after), fmt.clock(cp.at), place)
    local cause = "latency_regression"
    if suspect then
      title, cause = title .. (": %s %s, %dm before"):format(suspect.kind, suspect.id, suspect.before // 60), "bad_deploy"
    elseif culprit and only_hosts(culprit.labels) then
      cause = "slow_host"
    end
    local marks = { onset.mark(cp, name, fmt.seconds) }
    if suspect then marks[2] = suspect.evidence end
    local evidence = { (q * 1000):evidence(name .. " of " .. input.service, "ms"),
                       { kind = "events", title = "onset and deploy", items = marks } }
    if culprit then
      local means = {}
      for i = 1, math.min(2, #where) do means[i] = mean_of(got.sums, got.counts, where[i].labels) * 1000 end
      evidence[#evidence + 1] = inquest.series.set(means):evidence("mean latency where it rose", "ms")
      evidence[#evidence + 1] = culprit_table(where)
    end
    local finding = {
      title = title, root_cause = cause,
      severity = cp.after >= 2 * cp.before and "high" or "medium",
      confidence = (suspect or culprit) and 0.8 or 0.5,
      summary = explain(where) .. (suspect and " " .. inquest.summary(ranked) or ""),
      evidence = evidence,
      actions = suspect and { { type = "rollback", args = { deploy = suspect.id },
                                description = "roll back " .. suspect.id } } or nil,
    }
    ctx:finding(finding)
    ctx:conclude("root_cause_found", inquest.summary(finding))
  end,
}
