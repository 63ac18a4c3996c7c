-- analyzers/lib/http_logs.lua -- what the logs said when a change started: the error and
-- warning lines of a selector just before and just after a time, mined into patterns and
-- compared (inquest.logs.compare), for http.error_spike and deploy.bad_rollout.
local logs = require("inquest").logs
local M = {}

-- A LogQL stream selector of 'labels' (name -> value; values quoted as LogQL strings, names
-- sorted so that the same labels make the same query), errors and warnings only.
function M.selector(labels)
  local names, parts = {}, {}
  for name in pairs(labels) do names[#names + 1] = name end
  table.sort(names)
  for _, name in ipairs(names) do
    parts[#parts + 1] = ("%s=%q"):format(name, labels[name])
  end
  parts[#parts + 1] = 'level=~"error|warn"'
  return "{" .. table.concat(parts, ", ") .. "}"
end

-- The span of time a list of entries covers within [from, to): all of it unless 'limit' cut
-- the answer, then up to the last entry read (forward) or from the first one (backward).
local function covered(entries, from, to, limit, forward)
  if #entries < limit or #entries == 0 then return to - from end
  if forward then return math.max(60, entries[#entries].time - from) end
  return math.max(60, to - entries[1].time)
end

-- Compares the lines of 'before' (a selector, or nil for 'after''s) in the 'span' seconds
-- before 'at' - 'gap' with those of 'after' in the 'span' seconds from 'at', capped by 'to'
-- (the 'gap' before a change point mixes before and after):
-- { changes = inquest.logs.compare's list, before = n, after = n, query = the selector }, or
-- nil and the reason when Loki cannot be read. The lines after 'at' are read oldest first, so
-- that a limit keeps the start of what changed. The two calls go one after the other, not in a
-- ctx:parallel: a second ctx:parallel in one analysis can lose a thread to a stale task when
-- the garbage collector ran in between (workers/wk_io.c keeps finished tasks, keyed by thread
-- address, until the analysis ends).
function M.compare(ctx, connector, before, after, at, gap, span, to, limit)
  limit = limit or 500
  local base_to = at - gap
  local loki = ctx.logs(connector)
  local stop = math.min(to, at + span)
  local old, why = loki:logs(before or after, base_to - span, base_to,
                             { limit = limit, direction = "backward" })
  if not old then return nil, why end
  local new, why2 = loki:logs(after, at, stop, { limit = limit, direction = "forward" })
  if not new then return nil, why2 end
  local changes = logs.compare(old, new, {
    baseline_window = covered(old, base_to - span, base_to, limit, false),
    incident_window = covered(new, at, stop, limit, true),
  })
  return { changes = changes, before = #old, after = #new, query = after }
end

-- The message of a logfmt pattern (what msg="…" holds), or the pattern itself.
function M.message(pattern)
  local msg = pattern:match('msg="([^"]*)"') or pattern:match('msg="(.-) [%w_]+=') or
              pattern:match('msg="(.*)$')
  return msg or pattern
end

-- The first change of 'list' that is new, else the first that rose, or nil.
function M.headline(list)
  for _, c in ipairs(list or {}) do
    if c.status == "new" then return c end
  end
  return list and list[1]
end

return M
