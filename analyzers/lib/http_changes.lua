-- analyzers/lib/http_changes.lua -- change events (deploys, rollbacks, config pushes, flag
-- flips) from the deploy API, shaped for inquest.events.rank: the API's own fields, region and
-- version included, which an events mapping (docs/connectors.md) would leave out. Used by
-- http.error_spike and deploy.bad_rollout; the API is the one examples/inquest.yaml names
-- `deploys`: GET /api/deploys?service=S&since=RFC3339&until=RFC3339 -> { deploys = { … } },
-- each { id, type, service, region, version, created_at, finished_at, description, … }.
local M = {}

local function rfc3339(t) return os.date("!%Y-%m-%dT%H:%M:%SZ", math.floor(t)) end

-- Unix seconds of an RFC 3339 UTC time ("2026-11-20T14:00:00Z"), or nil.
local function unix(text)
  local y, mo, d, h, mi, s = tostring(text or ""):match("^(%d+)-(%d+)-(%d+)T(%d+):(%d+):(%d+)")
  if not y then return nil end
  -- Days from the civil date (Howard Hinnant's algorithm): os.time reads ctx.now, not a date.
  y, mo = tonumber(y) - (tonumber(mo) <= 2 and 1 or 0), tonumber(mo)
  local era = y // 400
  local yoe = y - era * 400
  local doy = (153 * (mo + (mo > 2 and -3 or 9)) + 2) // 5 + tonumber(d) - 1
  local doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
  local days = era * 146097 + doe - 719468
  return days * 86400 + tonumber(h) * 3600 + tonumber(mi) * 60 + tonumber(s)
end
M.unix = unix

-- The change events of 'service' made from 'from' to 'to' (Unix seconds), oldest first, each
-- { time, ["end"], kind, id, service, text, version, labels = { service, region, version } }:
-- a region of "all" or none is left out of the labels (the change says nothing of where).
-- Returns nil and the reason when the API cannot be read.
function M.list(ctx, connector, service, from, to)
  local answer, why = ctx.http(connector):get("/api/deploys",
    { query = { service = service, since = rfc3339(from), ["until"] = rfc3339(to) } })
  if not answer then return nil, why end
  local out = {}
  for _, c in ipairs(type(answer) == "table" and answer.deploys or {}) do
    local time = unix(c.created_at)
    if time then
      local region = c.region ~= "all" and c.region or nil
      out[#out + 1] = {
        time = time, ["end"] = unix(c.finished_at), kind = c.type or "deploy", id = c.id,
        service = c.service, text = c.description, version = c.version, region = region,
        rollback_of = c.rollback_of,
        labels = { service = c.service, region = region, version = c.version },
      }
    end
  end
  table.sort(out, function(a, b) return a.time < b.time end)
  return out
end

-- The change of 'list' whose id is 'id', or nil.
function M.find(list, id)
  for _, c in ipairs(list or {}) do
    if c.id == id then return c end
  end
end

-- 'change' as an item of `events` evidence.
function M.item(change)
  return { time = change.time, kind = change.kind, service = change.service, id = change.id,
           text = ("%s%s%s"):format(change.version and (change.version .. " ") or "",
                                    change.region and ("in " .. change.region .. ": ") or "",
                                    change.text or "") }
end

return M
