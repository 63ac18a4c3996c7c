-- analyzers/lib/onset.lua -- when a series started to go wrong: the first change point (CUSUM
-- binary segmentation, inquest.changepoint) in the incident window that moved the series in
-- the given direction by enough to matter, and marks of it for a finding's charts.
local inquest = require "inquest"
local fmt = require "lib.fmt"

local M = {}

-- The first change of 'series' at or after opts.from (a time) in opts.direction ("up",
-- default, or "down") whose size is at least opts.min_ratio of the level before it (default
-- 0.3) and at least opts.min_delta (default 0), or nil. NaN points (gaps) count as 0 when
-- opts.fill is given, else they are left out.
function M.find(series, opts)
  opts = opts or {}
  local direction = opts.direction or "up"
  local s = opts.fill and series:fill(opts.fill) or series
  local _, all = inquest.changepoint(s, { direction = direction })
  for _, cp in ipairs(all or {}) do
    local size = math.abs(cp.delta)
    local base = math.abs(cp.before)
    if cp.at >= (opts.from or -math.huge) and size >= (opts.min_delta or 0)
        and (base == 0 or size / base >= (opts.min_ratio or 0.3)) then
      return cp
    end
  end
end

-- An item of `events` evidence marking change point 'cp' (the console draws it as a dashed
-- line on the finding's charts); 'show' formats the levels (default fmt.number).
function M.mark(cp, what, show)
  show = show or fmt.number
  return { time = cp.at, kind = "change_point",
           text = ("%s changed from %s to %s (confidence %.3g)"):format(what, show(cp.before),
                                                                       show(cp.after), cp.confidence) }
end

-- Marks of the anomalies inquest.anomaly.detect found in 'series' from 'from', the largest
-- first, at most 'max' (default 3), their values written by 'show' (default fmt.number); and
-- the anomalies.
function M.anomalies(series, from, show, max)
  show = show or fmt.number
  local found = inquest.anomaly.detect(series, { from = from })
  table.sort(found, function(a, b) return a.score > b.score end)
  local items = {}
  for i = 1, math.min(max or 3, #found) do
    local a = found[i]
    items[i] = { time = a.peak, kind = "anomaly",
                 text = ("%s %s: %s instead of %s (z %.1f)"):format(a.kind, a.direction,
                   show(a.value), show(a.expected), a.score) }
  end
  return items, found
end

return M
