-- analyzers/lib/http_common.lua -- what http.error_spike and deploy.bad_rollout share: windows
-- of a set, percentages and clock times, a chart with its moments marked, the table of a
-- dimension analysis, and the place a culprit names.
local inquest = require "inquest"
local S = inquest.series
local M = {}

-- The series of 'set' cut to the times from 'a' to 'b' (both included).
function M.window(set, a, b)
  local out = {}
  for i, s in ipairs(set) do out[i] = s:slice(a, b) end
  return S.set(out)
end

-- 0.2413 -> "24.1%", 0.00081 -> "0.081%": three significant digits, as inquest.summary does.
function M.percent(x)
  if x == nil or x ~= x then return "n/a" end
  local p = 100 * x
  if p == 0 then return "0%" end
  local digits = math.max(0, 2 - math.floor(math.log(math.abs(p), 10)))
  local text = ("%." .. math.min(digits, 4) .. "f"):format(p)
  if text:find(".", 1, true) then text = text:gsub("0+$", ""):gsub("%.$", "") end
  return text .. "%"
end

-- Seconds -> "340ms", "1.2s".
function M.duration(s)
  if s ~= s then return "n/a" end
  if s < 1 then return ("%dms"):format(math.floor(1000 * s + 0.5)) end
  return ("%.2gs"):format(s)
end

-- Seconds -> "30m", "1h15m", "5m42s": as durations are typed.
function M.span(s)
  s = math.floor(s + 0.5)
  local h, m, sec = s // 3600, s % 3600 // 60, s % 60
  local out = (h > 0 and (h .. "h") or "") .. (m > 0 and (m .. "m") or "") .. (sec > 0 and (sec .. "s") or "")
  return out ~= "" and out or "0s"
end

function M.clock(t) return os.date("!%H:%M", math.floor(t)) end

-- 's' with the labels 'labels' (a sum has none: a chart needs a name for each line).
function M.named(s, labels)
  return S.new { labels = labels, times = s:times(), values = s:values() }
end

-- A series that is NaN but at the grid point of 's' nearest 'time', where it is 'height':
-- drawn beside 's', it marks the moment (a sparkline shows one bar, a chart one point).
local function mark(s, time, height, name)
  local times, values, best = s:times(), {}, nil
  for i, t in ipairs(times) do
    values[i] = 0 / 0 -- NaN: no point there (nil would leave a hole in the list)
    if not best or math.abs(t - time) < math.abs(times[best] - time) then best = i end
  end
  if best then values[best] = height end
  return S.new { labels = { mark = name }, times = times, values = values }
end

-- A timeseries evidence item: the series of 'list' on one grid ('grid' = { from, to, step }:
-- a series that starts late, a new version's, is blank before, so the lines line up in time)
-- and a marker series for each of 'marks' ({ time, name }).
function M.chart(title, unit, list, marks, grid)
  local series, top = {}, 0
  for i, s in ipairs(list) do
    series[i] = s:align(grid.step, grid.from, grid.to)
    top = math.max(top, s:max() or 0)
  end
  for _, m in ipairs(marks or {}) do
    series[#series + 1] = mark(series[1], m.time, top, m.name)
  end
  return S.set(series):evidence(title, unit)
end

-- The table of a dimension analysis: where, the ratio (or value) before and after, the share
-- of the change it explains, its surprise and score; 'n' rows at most.
function M.dimension_table(where, title, n, ratio)
  local rows = {}
  local fmt = ratio and M.percent or function(x) return ("%.3g"):format(x) end
  for i = 1, math.min(n or 8, #where) do
    local e = where[i]
    rows[i] = { e.where, e.baseline and fmt(e.baseline) or "(no traffic)", fmt(e.incident), M.percent(e.explains),
                ("%.3f"):format(e.surprise), ("%.3f"):format(e.score) }
  end
  return { kind = "table", title = title,
           columns = { "where", "before", "after", "explains", "surprise", "score" }, rows = rows }
end

-- The labels that every series of 'set' matching 'labels' agrees on, from time 'from' on
-- (series without a point after it are left out): a culprit endpoint="/pay",
-- version="v2.31.0" that only runs in eu-west is in region="eu-west" too. 'names' lists the
-- labels to look at.
function M.place(set, labels, from, names)
  local place = {}
  for k, v in pairs(labels) do place[k] = v end
  for _, name in ipairs(names) do
    if place[name] == nil then
      local value, alike = nil, true
      for _, s in ipairs(set:filter(labels)) do
        local v = s:slice(from, nil):max() -- the highest value (then its time)
        if v and v > 0 then
          local here = s:label(name)
          if value == nil then value = here elseif here ~= value then alike = false end
        end
      end
      if alike and value and value ~= "" then place[name] = value end
    end
  end
  return place
end

-- "/pay in eu-west (v2.31.0)" of a place: the endpoint, the region, the version, the instance,
-- as far as it names them.
function M.where(place)
  local out = place.endpoint or "every endpoint"
  if place.region then out = out .. " in " .. place.region end
  local extra = {}
  if place.version then extra[#extra + 1] = place.version end
  if place.instance then extra[#extra + 1] = "on " .. place.instance end
  if #extra > 0 then out = out .. " (" .. table.concat(extra, ", ") .. ")" end
  return out
end

return M
