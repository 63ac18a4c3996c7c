-- analyzers/deploy/bad_rollout.lua -- was this deploy bad? Compares, endpoint by endpoint, the
-- 5xx ratio and the p99 latency of the deployed version where it went (its region) after the
-- deploy with that region before it, against the other regions over the same times (what
-- moved everywhere is not the deploy's doing), and the log patterns of the new version with
-- those of the region before.
--
-- Inputs: service, deploy (its id in the deploy API; default: the service's last deploy that
-- can be judged), at (the end of the look), window (how long before and after the deploy to
-- compare).
-- Reads, by the connector names of examples/inquest.yaml:
--   prom     http_requests_total{service,endpoint,region,version,code} and
--            http_request_duration_seconds_bucket{service,endpoint,region,version,le}
--   deploys  the deploy API (analyzers/lib/http_changes.lua)
--   loki     the service's log lines, streams labelled {service, region, version, level}
-- Concludes root_cause_found (root cause bad_deploy: what got worse, where, with the new log
-- patterns), no_anomaly (no finding: nothing got worse, or no deploy to judge) or inconclusive.
local inquest = require "inquest"
local changes = require "lib.http_changes"
local logs = require "lib.http_logs"
local H = require "lib.http_common"
local t = inquest.types

local STEP = 60
local SETTLE = 120      -- seconds after a rollout ends before its version is judged
local MIN_AFTER = 300   -- seconds of data after the rollout needed to judge it
local WORSE = 2         -- a 5xx ratio this many times higher is worse …
local MIN_RISE = 0.005  -- … when it also rose by this much (half a point) …
local MIN_Z = 4         -- … and the rise is this many standard errors (two-proportion test)
local SLOWER = 1.5      -- a p99 this many times higher is slower …
local MIN_SLOWER = 0.05 -- … when it also grew by this many seconds
local CONTROL = 1.25    -- what changed this much (times) in the other regions moved everywhere

local function query(service, what)
  if what == "latency" then
    return ("histogram_quantile(0.99, sum by (endpoint, region, version, le) "
      .. "(rate(http_request_duration_seconds_bucket{service=%q}[5m])))"):format(service)
  end
  return ("sum by (endpoint, region, version) (rate(http_requests_total{service=%q%s}[2m]))")
    :format(service, what == "errors" and ',code=~"5.."' or "")
end

-- The mean of the points of 'set' (filtered by 'labels') from 'a' to 'b', by endpoint, and of
-- all of them under "*": rates, or with 'median' the median of each endpoint's points.
local function by_endpoint(set, labels, a, b, median)
  local out = {}
  local picked = labels and set:filter(labels) or set
  local groups = median and picked:max_by("endpoint") or picked:sum_by("endpoint")
  for _, s in ipairs(groups) do
    local w = s:slice(a, b)
    out[s:label("endpoint")] = median and w:quantile(0.5) or w:mean()
  end
  if not median then out["*"] = picked:total():slice(a, b):mean() end
  return out
end

-- 5xx ratios of each endpoint in a window: { endpoint = { ratio, requests (count) } }.
local function ratios(errors, requests, labels, a, b)
  local e, r, out = by_endpoint(errors, labels, a, b), by_endpoint(requests, labels, a, b), {}
  for endpoint, rate in pairs(r) do
    if rate and rate > 0 then
      out[endpoint] = { ratio = (e[endpoint] or 0) / rate, requests = rate * (b - a) }
    end
  end
  return out
end

-- The standard errors between two ratios (a two-proportion z test).
local function z(p0, n0, p1, n1)
  local p = (p0 * n0 + p1 * n1) / (n0 + n1)
  local se = math.sqrt(math.max(p * (1 - p), 1e-12) * (1 / n0 + 1 / n1))
  return (p1 - p0) / se
end

-- Whether a 5xx ratio went from 'was' to 'now' ({ ratio, requests }) in the deployed scope
-- while the control went from 'cb' to 'ca': worse, significantly, and not everywhere.
local function worse_errors(was, now, cb, ca)
  return now.ratio >= WORSE * was.ratio and now.ratio - was.ratio >= MIN_RISE
     and z(was.ratio, was.requests, now.ratio, now.requests) >= MIN_Z
     and not (cb and ca and ca.ratio >= CONTROL * WORSE * cb.ratio and ca.ratio - cb.ratio >= MIN_RISE)
end

local function worse_latency(was, now, cb, ca)
  return now >= SLOWER * was and now - was >= MIN_SLOWER and not (cb and ca and ca >= CONTROL * cb)
end

-- Every endpoint's 5xx ratio and p99, before and after, in the scope and the control:
-- { endpoint, what ("5xx" or "p99"), before, after, other_before, other_after, worse }, what got
-- worse first (the worst first), then the rest by endpoint. 'scope' has the labels of before
-- and after, 'others' those of the control (nil: none), 'times' the windows.
local function compare(got, scope, others, times)
  local out = {}
  local function measure(what, read, judge)
    local b, a = read(scope.before, times.b0, times.b1), read(scope.after, times.a0, times.a1)
    local ob = others and read(others, times.b0, times.b1) or {}
    local oa = others and read(others, times.a0, times.a1) or {}
    for endpoint, now in pairs(a) do
      local was = b[endpoint]
      if was then
        local value = function(x) return type(x) == "table" and x.ratio or x end
        out[#out + 1] = { endpoint = endpoint, what = what, before = value(was), after = value(now),
                          other_before = value(ob[endpoint]), other_after = value(oa[endpoint]),
                          worse = judge(was, now, ob[endpoint], oa[endpoint]) }
      end
    end
  end
  measure("5xx", function(labels, a, b) return ratios(got.errors, got.requests, labels, a, b) end,
          worse_errors)
  if got.latency then
    measure("p99", function(labels, a, b) return by_endpoint(got.latency, labels, a, b, true) end,
            worse_latency)
  end
  table.sort(out, function(x, y)
    if x.worse ~= y.worse then return x.worse end
    if x.worse and x.what ~= y.what then return x.what < y.what end -- 5xx first
    if x.worse then return x.after / math.max(x.before, 1e-9) > y.after / math.max(y.before, 1e-9) end
    if x.endpoint ~= y.endpoint then return x.endpoint < y.endpoint end
    return x.what < y.what
  end)
  return out
end

-- How a comparison's numbers read: "0.08%" or "742ms".
local function shown(v, x)
  if x == nil then return "n/a" end
  return v.what == "5xx" and H.percent(x) or H.duration(x)
end

local function table_of(rows_in, change)
  local rows = {}
  for i, v in ipairs(rows_in) do
    rows[i] = { v.endpoint == "*" and "all endpoints" or v.endpoint, v.what, shown(v, v.before),
                shown(v, v.after), shown(v, v.other_before), shown(v, v.other_after),
                v.worse and "worse" or "" }
  end
  local where = change.region or "everywhere"
  return { kind = "table", title = ("before and after %s (%s), and elsewhere"):format(change.version or change.id, where),
           columns = { "endpoint", "measure", "before, " .. where, "after, " .. (change.version or "new"),
                       "before, elsewhere", "after, elsewhere", "verdict" }, rows = rows }
end

-- The chart of what got worse most: the 5xx ratio (or the p99) of its endpoint by region and
-- version, the change marked. A new version's line starts at its rollout.
local function chart(got, worst, change, times, service)
  local focus = worst and worst.endpoint ~= "*" and { endpoint = worst.endpoint } or {}
  local lines = {}
  if worst and worst.what == "p99" then
    for _, s in ipairs(got.latency:filter(focus)) do lines[#lines + 1] = s end
  else
    local errors = got.errors:filter(focus):sum_by("region", "version")
    local requests = got.requests:filter(focus):sum_by("region", "version")
    for _, e in ipairs(errors) do
      local labels = { region = e:label("region"), version = e:label("version") }
      local r = requests:filter(labels)[1]
      if r then lines[#lines + 1] = H.named(e / r, labels) end
    end
  end
  if #lines == 0 then return nil end
  return H.chart(("%s of %s by region and version"):format(worst and worst.what == "p99" and "p99 latency"
    or "5xx ratio", focus.endpoint or service), worst and worst.what == "p99" and "s" or "ratio", lines,
    { { time = change.time, name = ("%s %s at %s"):format(change.kind, change.id, H.clock(change.time)) } },
    { from = times.b0, to = times.a1, step = STEP })
end

-- The service's last deploy (or rollback) in 'list' that ended long enough before 'at' to judge.
local function last(list, input)
  for i = #list, 1, -1 do
    local c = list[i]
    if (c.kind == "deploy" or c.kind == "rollback")
       and (c["end"] or c.time) + SETTLE + MIN_AFTER <= input.at then return c end
  end
end

-- The windows compared: before the change, and after its rollout settled (nil and why when too
-- little time has passed).
local function windows(change, input)
  local times = { b0 = change.time - input.window, b1 = change.time }
  times.a0 = (change["end"] or change.time) + SETTLE
  times.a1 = math.min(input.at, times.a0 + input.window)
  if times.a1 - times.a0 < MIN_AFTER then
    return nil, ("%s ended at %s: too recent to judge (%s of data after it)"):format(change.id,
      H.clock(times.a0 - SETTLE), H.span(math.max(0, times.a1 - times.a0)))
  end
  return times
end

return inquest.analyzer {
  name = "deploy.bad_rollout",
  owner = "team-delivery",
  description = "Was this deploy bad? Its version's 5xx ratio, latency and log patterns where it went, against before and elsewhere.",
  version = "1.0.0",
  tags = { "deploy", "http" },
  inputs = {
    service = t.string { pattern = "^[a-z0-9-]+$", description = "the service deployed" },
    deploy = t.string { pattern = "^[A-Za-z0-9._:-]+$", optional = true,
                        description = "the deploy's id in the deploy API (default: the last one that can be judged)" },
    at = t.time { default = "now", description = "the end of the look" },
    window = t.duration { default = "30m", min = "10m", max = "6h",
                          description = "how long before the deploy, and after it, to compare" },
  },
  run = function(ctx, input)
    local list, why = changes.list(ctx, "deploys", input.service, input.at - 86400, input.at)
    if not list then return ctx:conclude("inconclusive", why) end
    local change = input.deploy and changes.find(list, input.deploy) or not input.deploy and last(list, input)
    if not change then
      return ctx:conclude(input.deploy and "inconclusive" or "no_anomaly", ("no %s of %s in the day before %s")
        :format(input.deploy and ("change " .. input.deploy) or "deploy to judge", input.service,
          os.date("!%Y-%m-%dT%H:%MZ", input.at)))
    end
    local times, early = windows(change, input)
    if not times then return ctx:conclude("inconclusive", early) end

    local prom = ctx.metrics("prom")
    local got, failed = ctx:step("query", ctx.parallel, ctx, {
      errors = function() return prom:range(query(input.service, "errors"), times.b0, times.a1, STEP) end,
      requests = function() return prom:range(query(input.service), times.b0, times.a1, STEP) end,
      latency = function() return prom:range(query(input.service, "latency"), times.b0, times.a1, STEP) end,
    })
    for name, err in pairs(failed) do ctx.log.warn("%s: %s", name, err) end
    if not (got.errors and got.requests) or #got.requests == 0 then
      return ctx:conclude("inconclusive", ("the request rates of %s could not be read"):format(input.service))
    end

    -- Before: the region, whatever version ran; after: the deployed version there; the control:
    -- the other regions over the same times.
    local region = change.region
    local scope = { before = region and { region = region } or nil,
                    after = { region = region, version = change.version } }
    local others = {}
    for _, r in ipairs(got.requests:labels("region")) do
      if r ~= region then others[#others + 1] = r end
    end
    local rows = compare(got, scope, region and #others > 0 and { region = others } or nil, times)
    local worse = {}
    for _, v in ipairs(rows) do
      if v.worse then worse[#worse + 1] = v end
    end

    -- The log patterns of the new version against those of the region before it.
    local said = logs.compare(ctx, "loki", logs.selector { service = input.service, region = region },
      logs.selector { service = input.service, region = region, version = change.version },
      change.time, 0, math.min(1800, input.window), times.a1)
    local new = logs.headline(said and said.changes)
    new = new and new.status == "new" and new or nil

    local name = ("%s %s (%s %s in %s)"):format(change.kind, change.id, input.service,
      change.version or "", region or "every region")
    local evidence = { chart(got, worse[1], change, times, input.service) } -- nil: no lines
    evidence[#evidence + 1] = { kind = "events", title = "the change", items = { changes.item(change) } }
    evidence[#evidence + 1] = table_of(rows, change)
    if said and #said.changes > 0 then
      evidence[#evidence + 1] = said.changes:evidence(("log patterns new or rising with %s in %s")
        :format(change.version or change.id, region or "every region"))
    end

    if #worse == 0 then -- no finding: the library's convention when nothing is wrong
      local all = {}
      for _, v in ipairs(rows) do
        if v.endpoint == "*" or (v.what == "p99" and #all < 3) then
          all[#all + 1] = ("%s of %s %s -> %s"):format(v.what, v.endpoint == "*" and "all endpoints"
            or v.endpoint, shown(v, v.before), shown(v, v.after))
        end
      end
      return ctx:conclude("no_anomaly", ("%s looks healthy: no endpoint's 5xx ratio or p99 got worse (%s)")
        :format(name, table.concat(all, ", ")))
    end
    local parts = {}
    for i = 1, math.min(3, #worse) do
      local v = worse[i]
      parts[i] = ("%s of %s %s -> %s"):format(v.what, v.endpoint == "*" and "all endpoints" or v.endpoint,
        shown(v, v.before), shown(v, v.after))
    end
    local finding = {
      title = ("%s is bad: %s"):format(name, table.concat(parts, ", ")),
      summary = (new and ('New with it in the logs: "%s" (%d lines). '):format(logs.message(new.pattern),
        new.count) or "") .. ("Elsewhere over the same times: %s -> %s."):format(
        shown(worse[1], worse[1].other_before), shown(worse[1], worse[1].other_after)),
      root_cause = "bad_deploy", severity = "high",
      confidence = new and 0.9 or 0.75,
      evidence = evidence,
    }
    if change.kind ~= "rollback" then
      finding.actions = { { type = "rollback", args = { deploy = change.id, service = input.service,
                                                         region = region },
                            description = ("roll back %s"):format(name) } }
    end
    ctx:finding(finding)
    ctx:conclude("root_cause_found", inquest.summary(finding))
  end,
}
