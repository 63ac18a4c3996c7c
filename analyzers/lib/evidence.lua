-- analyzers/lib/evidence.lua -- evidence items the library's findings share (docs/sdk.md,
-- "Findings"): tables of a ranking's first items, and scaled series.
local inquest = require "inquest"

local M = {}

-- A `table` evidence item of the first 'k' (default 8) items of 'list', one row each made by
-- row(item) (cells: strings, numbers, booleans).
function M.table(title, columns, list, row, k)
  local rows = {}
  for i = 1, math.min(k or 8, #list) do rows[i] = row(list[i]) end
  return { kind = "table", title = title, columns = columns, rows = rows }
end

-- The 'k' series of 'set' with the highest last values, each times 'scale' (100: a fraction
-- in percent), as a set.
function M.top(set, k, scale)
  local scaled = {}
  for i, s in ipairs(set:top(k, "last")) do scaled[i] = s * scale end
  return inquest.series.set(scaled)
end

return M
