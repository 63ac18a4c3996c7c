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
local metrics = require "lib.metrics"
local where = require "lib.where"

-- The root cause: the deploy when one fits, a host when the culprit is one machine.
local function cause(suspect, culprit)
  if suspect then return "bad_deploy" end
  if culprit and where.only_hosts(culprit.labels) then return "slow_host" end
  return "latency_regression"
end

return inquest.analyzer {
  name = "latency.regression",
  owner = "team-edge",
  description = "Why did a service's latency rise? Since when, where (endpoint, region, version, "
    .. "host) and after which deploy.",
  tags = { "http", "latency", "slo" },
  inputs = {
    service = t.string { pattern = "^[a-z0-9-]+$",
      description = "the service (label service of its http_request_duration_seconds histogram)" },
    at = t.time { default = "now", description = "the time of the alert: the end of the window" },
    window = t.duration { default = "1h", min = "10m", max = "24h",
      description = "how far back the rise may have started (as much again before it is the "
        .. "baseline)" },
    quantile = t.number { default = 0.99, min = 0.5, max = 0.999,
      description = "the latency quantile watched" },
    by = t.list { t.string { pattern = "^[a-zA-Z_][a-zA-Z0-9_]*$" }, min = 1, max = 8,
      default = "endpoint,region,version,instance",
      description = "the labels the culprit is looked for by" },
    min_increase = t.number { default = 0.3, min = 0.05, max = 100,
      description = "the least rise of the quantile that counts, relative (0.3: 30%)" },
  },
  run = function(ctx, input)
    local from, to, step = span.of(input, 2)
    local prom = ctx.metrics("prom")
    local values = { service = input.service, q = ("%g"):format(input.quantile),
                     by = table.concat(input.by, ", ") }
    local function range(template)
      return prom:range(metrics.expr(template, values), from, to, step)
    end
    local got, failed = ctx:step("query", ctx.parallel, ctx, {
      quantile = function() return range(metrics.http.quantile) end,
      sums = function() return range(metrics.http.latency_sum_by) end,
      counts = function() return range(metrics.http.latency_count_by) end,
    })
    for name, err in pairs(failed) do ctx.log.warn("%s: %s", name, err) end
    if not (got.quantile and got.sums and got.counts) then
      return ctx:conclude("inconclusive", ("the latency of %s could not be read"):format(input.service))
    end
    local q = got.quantile[1]
    if not q then
      return ctx:conclude("inconclusive", ("no request-duration histogram of %s"):format(input.service))
    end

    -- When: the first rise of the quantile in the window, large enough to matter.
    local name = ("p%g latency"):format(100 * input.quantile)
    local cp = onset.find(q, { from = to - input.window, min_ratio = input.min_increase })
    if not cp then
      return ctx:conclude("no_anomaly", ("the %s of %s did not rise by %s or more in the last %dm")
        :format(name, input.service, fmt.percent(input.min_increase), input.window // 60))
    end

    -- Where: the elements that explain the mean latency's rise; then the deploy that fits them.
    local found = inquest.dimensions.explain_ratio(got.sums, got.counts, { onset = cp.at }) or {}
    local culprit = not found.widespread and found[1] or nil
    local scope = { service = input.service }
    for k, v in pairs(culprit and culprit.labels or {}) do
      if k == "region" or k == "version" then scope[k] = v end
    end
    local ranked = deploys.rank(ctx, input.service, cp.at, scope)
    local suspect = deploys.suspect(ranked)

    local title = ("%s of %s %s (%s to %s) from %s on %s"):format(name, input.service,
      fmt.times(cp.after, cp.before), fmt.seconds(cp.before), fmt.seconds(cp.after),
      fmt.clock(cp.at), culprit and culprit.where or "every endpoint")
    local evidence = {
      (q * 1000):evidence(name .. " of " .. input.service, "ms"),
      { kind = "events", title = "onset", items = { onset.mark(cp, name, fmt.seconds) } },
    }
    if suspect then
      title = title .. (": %s %s, %dm before"):format(suspect.kind, suspect.id, suspect.before // 60)
      table.insert(evidence[2].items, suspect.evidence)
    end
    if culprit then
      evidence[3] = where.ratios(found, got.sums, got.counts, 2, 1000)
        :evidence("mean latency where it rose", "ms")
      evidence[4] = where.table(found, "where the mean latency rose", fmt.seconds)
    end
    local finding = {
      title = title, root_cause = cause(suspect, culprit),
      severity = cp.after >= 2 * cp.before and "high" or "medium",
      confidence = (suspect or culprit) and 0.8 or 0.5,
      summary = where.sentence(found, "The mean latency", fmt.seconds)
        .. (suspect and " " .. inquest.summary(ranked) or ""),
      evidence = evidence,
      actions = suspect and { { type = "rollback", args = { deploy = suspect.id },
                                description = "roll back " .. suspect.id } } or nil,
    }
    ctx:finding(finding)
    ctx:conclude("root_cause_found", inquest.summary(finding))
  end,
}
