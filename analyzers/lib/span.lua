-- analyzers/lib/span.lua -- the time range and step an analyzer queries for an incident window:
-- the window itself plus history before it, on a coarse grid so that answers (and backtest
-- recordings) stay small whatever the window.
local M = {}

-- The step for 'window' seconds: about 30 points a window, whole minutes, at least a minute.
function M.step(window)
  return math.max(60, window // 30 // 60 * 60)
end

-- 'from', 'to' and 'step' of 'windows' windows ending at input.at (the last one is the
-- incident's, the ones before it its history).
function M.of(input, windows)
  local step = M.step(input.window)
  local to = input.at // step * step
  return to - windows * input.window, to, step
end

return M
