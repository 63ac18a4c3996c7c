-- analyzers/lib/where.lua -- the culprit that dimension analysis (inquest.dimensions) names, as
-- findings show it: a sentence, a table of the first elements, and their series; for any
-- metric, its values written by a formatter of lib/fmt.lua (inquest.summary writes a ratio
-- as a share of 100%, which a latency is not).
local inquest = require "inquest"
local fmt = require "lib.fmt"
local evidence = require "lib.evidence"

local M = {}

-- Labels that name one machine: a culprit of these alone is a host, not code or traffic.
local HOST_LABELS = { instance = true, host = true, pod = true, node = true }

-- True when 'labels' name a machine and nothing else.
function M.only_hosts(labels)
  for name in pairs(labels) do
    if not HOST_LABELS[name] then return false end
  end
  return next(labels) ~= nil
end

-- One sentence on 'result' (of inquest.dimensions.explain_ratio) about 'what' ("the mean
-- latency"), values written by 'show'.
function M.sentence(result, what, show)
  local text = ("%s went from %s to %s"):format(what, show(result.baseline), show(result.incident))
  local e = result[1]
  if result.widespread or not e then return text .. ", alike everywhere." end
  return text .. (": %s explains %s of the rise (%s to %s, on %s of the traffic)."):format(e.where,
    fmt.percent(e.explains), show(e.baseline), show(e.incident), fmt.percent(e.traffic))
end

-- A `table` evidence item of the first 'k' elements of 'result': where, before, after, share.
function M.table(result, title, show, k)
  return evidence.table(title, { "where", "before", "after", "share of the change", "score" }, result,
    function(e)
      return { e.where, show(e.baseline), show(e.incident), fmt.percent(e.explains),
               ("%.2f"):format(e.score) }
    end, k or 5)
end

-- The ratio numerator / denominator of the first 'k' elements of 'result', a series each,
-- labelled by the element's labels, times 'scale'.
function M.ratios(result, numerator, denominator, k, scale)
  local list = {}
  for i = 1, math.min(k or 2, #result) do
    local labels = result[i].labels
    local s = numerator:filter(labels):total() / denominator:filter(labels):total() * (scale or 1)
    list[i] = inquest.series.new { labels = labels, times = s:times(), values = s:values() }
  end
  return inquest.series.set(list)
end

return M
