-- analyzers/lib/deploys.lua -- the change events (the `deploys` connector) that could have set
-- off an incident, ranked by inquest.events.rank: time before the onset, scope, kind.
local inquest = require "inquest"

local M = {}

-- How far before the onset a deploy is looked for, and after it (clocks disagree).
M.BEFORE, M.AFTER = 2 * 3600, 600

-- The change events of 'service' around 'onset', ranked as the trigger of an anomaly in
-- 'scope' (labels: { service = …, region = … }), best first; an empty list when the connector
-- fails (the failure is logged: an analysis goes on without deploys).
function M.rank(ctx, service, onset, scope)
  local list, err = ctx.events("deploys"):list {
    service = service, from = onset - M.BEFORE, to = onset + M.AFTER }
  if not list then
    ctx.log.warn("deploys of %s: %s", service, err)
    return {}
  end
  -- An API that names no kind gets the connector's name as the kind: these are deploys.
  for _, e in ipairs(list) do
    if e.kind == "deploys" then e.kind = "deploy" end
  end
  return inquest.events.rank(list, onset, scope, { top = 5 }) or {}
end

-- The top event of 'ranked' when it is a likely trigger: within about half an hour before
-- the onset (its time score halves every 30 minutes) in a scope that does not contradict it.
function M.suspect(ranked, min_score)
  local top = ranked[1]
  if top and top.score >= (min_score or 0.4) and top.before >= -60 then return top end
end

return M
