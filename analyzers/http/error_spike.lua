-- analyzers/http/error_spike.lua -- why did a service's 5xx ratio jump? When it started (a
-- change point), where (the endpoint, region, version and instance that explain the rise),
-- which change set it off (deploys, rollbacks, config pushes, flag flips ranked against the
-- onset and the place) and what the logs there began to say.
--
-- Inputs: service, at (the end of the look, the alert's time), window (how far back).
-- Reads, by the connector names of examples/inquest.yaml:
--   prom     http_requests_total{service,endpoint,region,version,instance,code}
--   deploys  the deploy API (analyzers/lib/http_changes.lua)
--   loki     the service's log lines, streams labelled {service, region, level, …}
-- Concludes root_cause_found (root cause bad_deploy: the change, the place, the new error),
-- located (root cause error_spike: the place and the logs, no change explains it), or
-- no_anomaly (no finding: the ratio did not rise).
local inquest = require "inquest"
local changes = require "lib.http_changes"
local logs = require "lib.http_logs"
local H = require "lib.http_common"
local t = inquest.types

local DIMENSIONS = { "endpoint", "region", "version", "instance" }
local STEP = 60        -- seconds between the points of the queries
local GUARD = 300      -- seconds before the onset left out of both windows: they mix before and after
local BASELINE = 1800  -- seconds before that: what was normal, read even before the window
local MIN_RISE = 0.002 -- a rise of the ratio smaller than this (0.2 points) is noise
local BLAME = 0.25     -- a change ranked lower than this (inquest.events.rank) explains nothing

local function query(service, codes)
  return ("sum by (endpoint, region, version, instance) (rate(http_requests_total{service=%q%s}[2m]))")
    :format(service, codes and (',code=~"%s"'):format(codes) or "")
end

-- The first rise of 's' that matters, or nil and the first change point found.
local function first_rise(s)
  local first, all = inquest.changepoint(s, { direction = "up" })
  for _, c in ipairs(all or {}) do
    if c.delta >= MIN_RISE and c.after >= 2 * c.before then return c end
  end
  return nil, first
end

-- The last time from 'rise' on that 'ratio' stays above halfway between before and after: the
-- end of the rise when the window also holds the way back.
local function rise_end(ratio, rise)
  local half, last = (rise.before + rise.after) / 2, rise.at
  for time, v in ratio:slice(rise.at, nil):points() do
    if v >= half then last = time end
  end
  return last
end

-- The onset of the first rise of 'ratio' that matters ({ at, before, after, …, ends }), or nil
-- and the small change found. A window that also holds the way back holds two steps, which one
-- CUSUM split models badly (the other step inflates the noise it measures): then the search is
-- made again on the window up to the peak and the plateau after it.
local function onset(ratio)
  local rise, small = first_rise(ratio)
  if not rise then
    local peak, at = ratio:max()
    if peak then
      local cut = rise_end(ratio, { at = at, before = ratio:quantile(0.25) or 0, after = peak })
      rise = first_rise(ratio:slice(nil, cut))
    end
  end
  if rise then rise.ends = rise_end(ratio, rise) end
  return rise, small
end

-- What a trigger of each kind is, as a root cause, and what undoes it.
local CAUSES = { deploy = "bad_deploy", rollback = "bad_deploy", config = "bad_config", flag = "bad_flag" }
local UNDO = { deploy = "rollback", config = "revert", flag = "revert" }

-- Nothing rose: the conclusion says how steady, with no finding (the library's convention:
-- an analyzer that ctx:call follows up with brings back first findings, and this is none).
local function steady(ctx, input, ratio, small, from)
  local words = ("the 5xx ratio of %s stayed at %s"):format(input.service,
    H.percent(ratio:slice(from, nil):mean()))
  if small then
    words = words .. ("; its largest rise, at %s, went from %s to %s: less than %s"):format(
      H.clock(small.at), H.percent(small.before), H.percent(small.after), H.percent(MIN_RISE))
  end
  ctx:conclude("no_anomaly", words)
end

-- Where: the label values that explain the rise of the ratio, the 30 minutes before the onset
-- (less the guard) against the rise; and the labels their series share (a version that only
-- runs in eu-west is in eu-west). Returns the analysis, its culprit (or nil) and the place.
local function explain(ctx, got, rise, service)
  local b1 = rise.at - GUARD
  local where = ctx:step("dimensions", inquest.dimensions.explain_ratio,
    H.window(got.errors, b1 - BASELINE, b1), H.window(got.requests, b1 - BASELINE, b1),
    H.window(got.errors, rise.at, rise.ends), H.window(got.requests, rise.at, rise.ends),
    { dimensions = DIMENSIONS, name = "the 5xx ratio of " .. service })
  local culprit = where and not where.widespread and where[1] or nil
  return where, culprit, culprit and H.place(got.requests, culprit.labels, rise.at, DIMENSIONS) or {}
end

-- Which change: every change of the service ranked by its time before the onset, its scope
-- against the place and its kind; the first is the trigger when it scores at least BLAME.
local function trigger_of(list, rise, place, service)
  if not list or #list == 0 then return nil, nil end
  local ranked = inquest.events.rank(list, rise.at,
    { service = service, region = place.region, version = place.version }, { top = 5 })
  return ranked, ranked[1] and ranked[1].score >= BLAME and ranked[1] or nil
end

-- The sentences of the finding's summary: where (inquest.summary of the dimension analysis),
-- which change (of the ranking, when one is blamed), what the logs said.
local function words(where, ranked, trigger, said, headline)
  local out = { inquest.summary(where) }
  if trigger then
    out[#out + 1] = inquest.summary(ranked)
  elseif ranked and #ranked > 0 then
    out[#out + 1] = ("No change explains it: the closest, %s %s, scores %.2g (%.2g counts)."):format(
      ranked[1].kind, ranked[1].id, ranked[1].score, BLAME)
  else
    out[#out + 1] = "No change of the service was made in the six hours before."
  end
  if headline then
    out[#out + 1] = ('The logs there: %s "%s" (%d lines in the %s after the onset, %d in the %s before).')
      :format(headline.status == "new" and "a new error," or "more of", logs.message(headline.pattern),
        headline.count, H.span(said.changes.incident_window), headline.baseline_count,
        H.span(said.changes.baseline_window))
  end
  return table.concat(out, " ")
end

-- The evidence: the ratio with the trigger and the onset marked, the dimension table, the
-- changes ranked, the log patterns new or rising since the onset.
local function evidence(ratio, area_ratio, rise, where, ranked, trigger, said, grid, service)
  local marks = { { time = rise.at, name = "change point " .. H.clock(rise.at) } }
  if trigger then
    table.insert(marks, 1, { time = trigger.event.time,
      name = ("%s %s at %s"):format(trigger.kind, trigger.id, H.clock(trigger.event.time)) })
  end
  local area = area_ratio and H.where { endpoint = area_ratio:label("endpoint"), region = area_ratio:label("region") }
  local out = {
    H.chart(("5xx ratio of %s%s"):format(area and (area .. " and of ") or "", service), "ratio",
            { area_ratio or nil, H.named(ratio, { service = service }) }, marks, grid),
  }
  -- The onset as an event of kind change_point too: the console marks it on the chart.
  out[#out + 1] = { kind = "events", title = "onset", items = { { time = rise.at, kind = "change_point",
    text = ("the 5xx ratio of %s went from %s to %s (confidence %.3g)"):format(service,
      H.percent(rise.before), H.percent(rise.after), rise.confidence) } } }
  if where then
    out[#out + 1] = H.dimension_table(where, ("where the 5xx ratio rose (before %s, after %s)")
      :format(H.clock(rise.at - GUARD), H.clock(rise.at)), 6, true)
  end
  if ranked and #ranked > 0 then
    local items = {}
    for i = 1, math.min(3, #ranked) do
      items[i] = changes.item(ranked[i].event)
      items[i].text = items[i].text .. "; " .. ranked[i].evidence.text
    end
    out[#out + 1] = { kind = "events", title = "changes ranked as the trigger", items = items }
  end
  if said and #said.changes > 0 then
    out[#out + 1] = said.changes:evidence(("new and rising patterns of %s since %s")
      :format(said.query, H.clock(rise.at)))
  end
  return out
end

return inquest.analyzer {
  name = "http.error_spike",
  owner = "team-edge",
  description = "Why did the 5xx ratio of a service jump? Since when, where, after which change, with what in the logs.",
  version = "2.0.0",
  tags = { "http", "errors" },
  inputs = {
    service = t.string { pattern = "^[a-z0-9-]+$", description = "the service (its label service)" },
    at = t.time { default = "now", description = "the end of the look: the alert's time" },
    window = t.duration { default = "1h", min = "10m", max = "12h",
                          description = "how far back to look for the jump" },
  },
  run = function(ctx, input)
    local from, to = input.at - input.window, input.at
    local since = from - BASELINE -- the jump is looked for from 'from'; what was before, from 'since'
    local grid = { from = since, to = to, step = STEP }
    local prom = ctx.metrics("prom")
    local got, failed = ctx:step("query", ctx.parallel, ctx, {
      errors = function() return prom:range(query(input.service, "5.."), since, to, STEP) end,
      requests = function() return prom:range(query(input.service), since, to, STEP) end,
      changes = function()
        return assert(changes.list(ctx, "deploys", input.service, from - 6 * 3600, to))
      end,
    })
    for name, err in pairs(failed) do ctx.log.warn("%s: %s", name, err) end
    if not (got.errors and got.requests) or #got.requests == 0 then
      return ctx:conclude("inconclusive", ("the request rates of %s could not be read"):format(input.service))
    end

    -- When: the first rise of the service's 5xx ratio that matters.
    local ratio = got.errors:total() / got.requests:total()
    local rise, small = onset(ratio:slice(from, nil))
    if not rise then return steady(ctx, input, ratio, small, from) end
    ctx.log("onset %s: %s -> %s (confidence %.3f)", H.clock(rise.at), H.percent(rise.before),
            H.percent(rise.after), rise.confidence)

    local where, culprit, place = explain(ctx, got, rise, input.service)
    local area = { endpoint = place.endpoint, region = place.region } -- the place, whatever version runs
    local area_ratio = next(area) and H.named(got.errors:filter(area):total()
      / got.requests:filter(area):total(), area)
    local ranked, trigger = trigger_of(got.changes, rise, place, input.service)

    -- What the logs of the place said: errors and warnings before and after the onset.
    local said, why = logs.compare(ctx, "loki", nil,
      logs.selector { service = input.service, region = place.region }, rise.at, GUARD, BASELINE,
      rise.ends + STEP)
    if not said then ctx.log.warn("logs: %s", why) end
    local headline = said and logs.headline(said.changes)

    -- The finding and the conclusion.
    local b1 = rise.at - GUARD
    local before = area_ratio and H.window({ area_ratio }, b1 - BASELINE, b1)[1]:mean() or rise.before
    local over = rise.ends < to - 2 * STEP and (" to " .. H.clock(rise.ends)) or ""
    local what = ("%s of requests from %s%s, %s before"):format(H.percent(culprit and culprit.incident
      or rise.after), H.clock(rise.at), over, H.percent(before))
    local change = trigger and trigger.event
    local finding = {
      title = trigger and ("5xx on %s after %s %s of %s: %s"):format(H.where(place), trigger.kind,
                                                                      trigger.id, input.service, what)
              or ("5xx on %s of %s: %s"):format(H.where(place), input.service, what),
      summary = words(where, ranked, trigger, said, headline),
      root_cause = trigger and (CAUSES[trigger.kind] or "bad_change") or "error_spike",
      severity = "high",
      confidence = trigger and math.min(0.95, 0.5 + 0.5 * trigger.score) or 0.5,
      evidence = evidence(ratio, area_ratio, rise, where, ranked, trigger, said, grid, input.service),
    }
    if trigger and UNDO[trigger.kind] then
      finding.actions = { { type = UNDO[trigger.kind], args = { [trigger.kind] = trigger.id,
        service = input.service, region = change.region },
        description = ("%s %s (%s %s in %s)"):format(UNDO[trigger.kind] == "rollback" and "roll back"
          or "revert", trigger.id, input.service, change.version or change.text or "",
          change.region or "every region") } }
    end
    ctx:finding(finding)
    local logged = headline and ('; %s in the logs: "%s"'):format(headline.status == "new" and "new"
      or "rising", logs.message(headline.pattern)) or ""
    if trigger then
      ctx:conclude("root_cause_found", ("%s %s (%s %s in %s) broke %s: 5xx %s%s"):format(trigger.kind,
        trigger.id, input.service, change.version or "", change.region or "every region",
        place.endpoint or "it", what, logged))
    else
      ctx:conclude("located", ("5xx on %s: %s; no change explains it%s"):format(H.where(place), what,
        logged))
    end
  end,
}
