-- analyzers/logs/error_burst.lua -- which new or rising kind of error line is a service logging?
-- Counts the service's error lines a step (a Loki metric query), finds when the count rose (a
-- change point), mines the lines before and after that onset into patterns and compares them
-- (inquest.logs: new patterns and patterns whose rate jumped), and names the top one with
-- example lines, and the deploy just before it when there is one.
local inquest = require "inquest"
local t = inquest.types
local fmt = require "lib.fmt"
local span = require "lib.span"
local onset = require "lib.onset"
local deploys = require "lib.deploys"
local metrics = require "lib.metrics"

local CAUSES = { new = "new_error", increased = "error_increase" }

-- The finding for change 'c' of the comparison 'changes'; 'counts' are the error lines a
-- 'step', 'marks' the onset's marks, 'ranked' the deploys ranked against it.
local function finding(input, c, changes, counts, step, marks, ranked)
  local suspect = deploys.suspect(ranked)
  if suspect then marks[#marks + 1] = suspect.evidence end
  local how = c.status == "new" and "new error" or ("error %.0fx more frequent"):format(c.ratio)
  return {
    title = ('%s in %s\'s logs from %s: "%s" (%d lines)'):format(how, input.service,
      fmt.clock(marks[1].time), c.pattern, c.count),
    root_cause = CAUSES[c.status],
    severity = c.rate >= 10 and "high" or "medium",
    confidence = c.status == "new" and 0.8 or 0.7,
    summary = ("%s lines a minute since %s, %s before; e.g. \"%s\"."):format(fmt.number(c.rate),
        fmt.clock(marks[1].time), fmt.number(c.baseline_rate), c.sample)
      .. (suspect and " " .. inquest.summary(ranked) or ""),
    evidence = {
      changes:evidence("error patterns new or rising since the onset"),
      counts:evidence(("error lines of %s per %ds"):format(input.service, step), "lines"),
      { kind = "events", title = "onset", items = marks },
    },
  }
end

return inquest.analyzer {
  name = "logs.error_burst",
  owner = "team-observability",
  description = "Which new or rising kind of error is a service logging, since when, and after "
    .. "which deploy?",
  tags = { "logs" },
  inputs = {
    service = t.string { pattern = "^[a-z0-9-]+$",
      description = "the service (its streams' label service in Loki)" },
    at = t.time { default = "now", description = "the time of the alert: the end of the window" },
    window = t.duration { default = "30m", min = "5m", max = "6h",
      description = "how far back the burst may have started (as much again before it is the "
        .. "baseline)" },
    filter = t.string { default = "(?i)(error|exception|fatal|panic)", max_length = 500,
      pattern = "^[^`]+$",
      description = "the LogQL line filter (a regular expression) that picks error lines" },
    min_lines = t.int { default = 10, min = 2,
      description = "lines a new or rising pattern needs to be reported" },
  },
  run = function(ctx, input)
    local from, to, step = span.of(input, 2)
    local loki = ctx.logs("loki")
    local query = metrics.expr(metrics.logs.errors, { service = input.service, filter = input.filter })

    -- When: the count of error lines a step, and its first rise in the window.
    local counted, err = loki:metrics(("sum(count_over_time(%s [%ds]))"):format(query, step),
                                      from, to, step)
    if not counted then return ctx:conclude("inconclusive", err) end
    local counts = (counted[1] or inquest.series.new {}):align(step, from + step, to):fill(0)
    local cp = onset.find(counts, { from = to - input.window, min_ratio = 0.5, min_delta = 1 })
    -- A count covers the step before its time, and the first point at the new level may be
    -- the second of the burst: its first lines came at most two steps before the change point.
    local start = cp and cp.at - 2 * step or to - input.window
    local marks = { cp and onset.mark(cp, "error lines a step")
                    or { kind = "change_point", text = "no change in the count: the window's start" } }
    marks[1].time = start

    -- What: the patterns of the lines before and after, compared.
    local got, failed = ctx:step("logs", ctx.parallel, ctx, {
      before = function() return loki:logs(query, start - input.window, start, { limit = 5000 }) end,
      after = function() return loki:logs(query, start, to, { limit = 5000 }) end,
    })
    for name, e in pairs(failed) do ctx.log.warn("%s: %s", name, e) end
    if not (got.before and got.after) then
      return ctx:conclude("inconclusive", "the log lines could not be read")
    end
    if #got.before >= 5000 or #got.after >= 5000 then
      ctx.log.warn("lines cut at 5000 a window: the counts and rates below are lower bounds")
    end
    local changes = inquest.logs.compare(got.before, got.after,
      { baseline_window = input.window, incident_window = to - start })
    local top
    for _, c in ipairs(changes) do
      if c.count >= input.min_lines then
        top = c
        break
      end
    end
    if not top then
      return ctx:conclude("no_anomaly", ("no new or rising error pattern in %s's logs since %s "
        .. "(%d lines before, %d after)"):format(input.service, fmt.clock(start), #got.before,
                                                 #got.after))
    end
    -- When it started: a new pattern's first line; else the step before the change point.
    marks[1].time = top.status == "new" and top.first or cp and cp.at - step or start
    local ranked = deploys.rank(ctx, input.service, marks[1].time, { service = input.service })
    local f = finding(input, top, changes, counts, step, marks, ranked)
    ctx:finding(f)
    ctx:conclude("root_cause_found", inquest.summary(f))
  end,
}
