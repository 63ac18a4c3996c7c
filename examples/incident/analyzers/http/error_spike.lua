-- examples/incident/analyzers/http/error_spike.lua -- a small analyzer of 5xx spikes, for the
-- connector tests (tests/connectors/replay_*, config_check_ok): the region and endpoint whose
-- error ratio moved most, and the deploy before. The demo uses the library's analyzers/http/.
local inquest = require "inquest"
local t = inquest.types

-- The mean of the first quarter of a series: the ratio before anything happened.
local function baseline(s)
  local n, sum = 0, 0
  for i = 1, math.max(1, #s // 4) do
    local _, v = s:at(i)
    if v == v then n, sum = n + 1, sum + v end
  end
  return n > 0 and sum / n or 0
end

-- The first time the ratio passes 'level', or nil.
local function onset(s, level)
  for time, v in s:points() do
    if v > level then return time end
  end
end

local function percent(x) return ("%.1f%%"):format(100 * x) end

return inquest.analyzer {
  name = "http.error_spike",
  owner = "team-edge",
  description = "Why did the 5xx ratio of a service jump? Where, since when, and after which deploy.",
  inputs = {
    service = t.string { required = true, pattern = "^[a-z0-9-]+$" },
    at = t.time { default = "now" },
    window = t.duration { default = "1h", min = "10m", max = "24h" },
  },
  run = function(ctx, input)
    local from, to = input.at - input.window, input.at
    local by = ('sum by (region, endpoint) (rate(http_requests_total{service=%q%s}[2m]))')
    local prom = ctx.metrics("prom")
    local got, failed = ctx:step("query", ctx.parallel, ctx, {
      errors = function() return prom:range(by:format(input.service, ',code=~"5.."'), from, to, "60s") end,
      requests = function() return prom:range(by:format(input.service, ""), from, to, "60s") end,
      deploys = function()
        return ctx.events("deploys"):list { service = input.service, from = from, to = to }
      end,
      logs = function()
        return ctx.logs("loki"):logs(('{service=%q} |= "error"'):format(input.service), from, to,
                                     { limit = 50 })
      end,
    })
    for name, err in pairs(failed) do ctx.log.warn("%s: %s", name, err) end
    if not (got.errors and got.requests) then
      return ctx:conclude("inconclusive", "the error and request rates could not be read")
    end

    -- The error ratio of each region and endpoint, and the one that moved most.
    local worst, jump = nil, 0
    for _, errors in ipairs(got.errors) do
      local requests = got.requests:filter(errors.labels)[1]
      if requests then
        local ratio = errors / requests
        local moved = ratio:max() - baseline(ratio)
        if moved > jump then worst, jump = { ratio = ratio, labels = errors.labels }, moved end
      end
    end
    if not worst or jump < 0.01 then
      return ctx:conclude("no_anomaly", "no region and endpoint's 5xx ratio rose by 1 point or more")
    end
    local before = baseline(worst.ratio)
    local started = onset(worst.ratio, before + jump / 2)
    local where = ("%s in %s"):format(worst.labels.endpoint, worst.labels.region)
    ctx.log("worst: %s, %s -> %s from %s", where, percent(before), percent(worst.ratio:max()),
            os.date("!%H:%M", started))

    -- The last deploy of the service before the onset, in the same region when it says.
    local suspect
    for _, d in ipairs(got.deploys or {}) do
      if d.time <= started and d.time >= started - 1800 then suspect = d end
    end

    local lines, sample = 0, nil
    for _, entry in ipairs(got.logs or {}) do
      if entry.time >= started then lines, sample = lines + 1, sample or entry.line end
    end

    local evidence = { worst.ratio:evidence("5xx ratio of " .. where) }
    if suspect then
      evidence[#evidence + 1] = { kind = "events", title = "deploys", items = { suspect } }
    end
    if sample then
      evidence[#evidence + 1] = { kind = "text", title = ("%d error lines since the onset, e.g."):format(lines),
                                  text = sample }
    end
    ctx:finding {
      title = ("5xx on %s rose from %s to %s at %s%s"):format(where, percent(before),
        percent(worst.ratio:max()), os.date("!%H:%M", started),
        suspect and (" after deploy %s"):format(suspect.id) or ""),
      summary = suspect and suspect.text or nil,
      root_cause = suspect and "bad_deploy" or "error_spike",
      severity = "high",
      confidence = suspect and 0.8 or 0.4,
      evidence = evidence,
      actions = suspect and { { type = "rollback", args = { deploy = suspect.id },
                                description = "roll back " .. suspect.id } } or nil,
    }
  end,
}
