-- analyzers/lib/follow.lua -- following up an analysis with other analyzers (ctx:call): what
-- each takes, and their findings brought back as support for the caller's own.
local inquest = require "inquest"

local M = {}

-- The analyzers that can be followed, and their inputs given the service under analysis, the
-- subject (what the caller found at fault: a dependency, or the service itself) and the
-- caller's input (at, window).
M.INPUTS = {
  ["logs.error_burst"] = function(service, _, input)
    return { service = service, at = input.at, window = input.window }
  end,
  ["host.saturation"] = function(_, subject, input)
    return { selector = ('job="node",service=%q'):format(subject), at = input.at, window = input.window }
  end,
  ["deploy.bad_rollout"] = function(_, subject, input)
    return { service = subject, at = input.at, window = input.window }
  end,
  ["http.error_spike"] = function(_, subject, input)
    return { service = subject, at = input.at, window = input.window }
  end,
}

-- The names M.INPUTS knows, sorted, for an input's t.enum.
function M.names()
  local names = {}
  for name in pairs(M.INPUTS) do names[#names + 1] = name end
  table.sort(names)
  return names
end

-- Runs each analyzer of 'names' on 'subject'. Returns the first finding of each (copied a
-- notch lower, severity medium: they support the caller's finding) and one sentence per
-- analyzer that found something. One that is not installed or fails is logged and skipped.
function M.run(ctx, names, service, subject, input)
  local found, words = {}, {}
  for _, name in ipairs(names) do
    local ok, r = pcall(ctx.call, ctx, name, M.INPUTS[name](service, subject, input))
    local f = ok and r.status == "ok" and r.findings and r.findings[1]
    if not ok then
      ctx.log.warn("%s: %s", name, r)
    elseif r.status ~= "ok" then
      ctx.log.warn("%s ended with %s", name, r.status)
    elseif f then
      words[#words + 1] = ("%s found: %s (%s)."):format(name, f.title, f.root_cause or "no root cause")
      found[#found + 1] = { title = f.title, root_cause = f.root_cause, severity = "medium",
        confidence = (f.confidence or 0.5) * 0.9, evidence = f.evidence,
        summary = ("Found by %s: %s"):format(name, f.summary or inquest.summary(f)) }
    end
  end
  return found, words
end

return M
