-- analyzers/lib/fmt.lua -- how the library's analyzers write times, shares and sizes in titles
-- and logs, so that every title reads alike (inquest.summary writes its own sentences).
local M = {}

-- 't' as the time of day in UTC, "14:02": titles are read during the incident, that day.
function M.clock(t)
  return os.date("!%H:%M", t)
end

-- (Each writes "n/a" for nil or NaN: a ratio without a denominator, a window without data.)

-- A fraction 0..1 as a percentage with as few digits as it needs: "0.1%", "35%", "97.4%".
function M.percent(x)
  if not x or x ~= x then return "n/a" end
  local p = 100 * x
  if p >= 10 or p == 0 then return ("%.0f%%"):format(p) end
  if p >= 1 then return ("%.1f%%"):format(p) end
  return ("%.2g%%"):format(p)
end

-- Seconds as milliseconds, "420 ms", or seconds from 10 s up, "12.5 s".
function M.seconds(s)
  if not s or s ~= s then return "n/a" end
  if s >= 10 then return ("%.1f s"):format(s) end
  return ("%.0f ms"):format(1000 * s)
end

-- A number with three significant digits, "0.0312", "1250".
function M.number(x)
  return ("%.3g"):format(x)
end

-- A factor of change, "5.2x".
function M.times(after, before)
  if before <= 0 then return "from nothing" end
  return ("%.1fx"):format(after / before)
end

return M
