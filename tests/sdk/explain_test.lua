-- The explaining helpers of the toolkit end to end, in the sandbox and under its budgets:
-- inquest.dimensions, inquest.correlate, inquest.events and inquest.summary on one small
-- incident (version v2 broke /pay in eu-west after deploy 4711), their results put in a
-- finding's evidence, and refusals of bad arguments, by pcall.
local inquest = require "inquest"
local S = inquest.series

-- The message of the error 'f' raises, without its position.
local function refusal(f, ...)
  local ok, err = pcall(f, ...)
  assert(not ok, "no error")
  return (tostring(err):gsub("^[^:]*:%d+: ", ""))
end

local function check(got, want)
  assert(got == want, ("got %q, want %q"):format(got, want))
end

return inquest.analyzer {
  name = "sdk.explain_test", owner = "tests", description = "the toolkit's explaining helpers",
  run = function(ctx)
    local step, onset = 60, ctx.now - 1800
    local t0 = onset - 150 * step
    local n = 180

    -- Requests and errors by endpoint, region and version: after the onset, /pay on v2 in
    -- eu-west fails a quarter of its requests; elsewhere 1% fail.
    local requests, errors = {}, {}
    for _, endpoint in ipairs { "/pay", "/cart", "/search" } do
      for _, region in ipairs { "us-east", "eu-west" } do
        for _, version in ipairs { "v1", "v2" } do
          local labels = { endpoint = endpoint, region = region, version = version }
          local rq, er = {}, {}
          for i = 1, n do
            local t = t0 + step * (i - 1)
            local volume = (endpoint == "/search" and 300 or 100) + 10 * math.sin(i / 7)
            local bad = t >= onset and endpoint == "/pay" and region == "eu-west" and version == "v2"
            rq[i] = { t, volume }
            er[i] = { t, volume * (bad and 0.25 or 0.01) }
          end
          requests[#requests + 1] = S.new { labels = labels, points = rq }
          errors[#errors + 1] = S.new { labels = labels, points = er }
        end
      end
    end
    requests, errors = S.set(requests), S.set(errors)

    -- Dimension analysis of the error ratio names the combination
    local culprit = inquest.dimensions.explain_ratio(errors, requests,
      { onset = onset, name = "the 5xx ratio" })
    local top = culprit[1]
    check(top.where, 'endpoint="/pay", region="eu-west", version="v2"')
    assert(top.depth == 3 and top.explains > 0.99 and top.incident > 0.24)
    assert(#errors:filter(top.labels) == 1)

    -- Correlation: which candidate moved with the errors of the culprit
    local target = errors:filter(top.labels)[1]
    local candidates = {}
    for i = 1, 30 do
      local level, pts = 100, {}
      for k = 1, n do
        level = level + (((k * 7919 + i * 104729) % 17) - 8) / 4
        pts[k] = { t0 + step * (k - 1), level }
      end
      candidates[i] = S.new { labels = { dependency = "noise" .. i }, points = pts }
    end
    local latency = {}
    for k = 1, n do
      local t = t0 + step * (k - 1)
      latency[k] = { t, (t >= onset - 2 * step and 900 or 120) + (k * 37 % 11) }
    end
    table.insert(candidates, 12, S.new { labels = { dependency = "payments-db" }, points = latency })
    local moved = inquest.correlate.rank(target, S.set(candidates), { onset = onset, top = 3 })
    check(moved[1].labels.dependency, "payments-db")
    assert(moved[1].lag == 120 and moved[1].direction == "same", moved[1].lag)

    -- Event isolation: the deploy of v2 to eu-west, 4 minutes before
    local events = {
      { time = onset - 3600, kind = "deploy", id = "4690", service = "checkout", region = "us-east" },
      { time = onset - 240, kind = "deploy", id = "4711", service = "checkout",
        labels = { region = "eu-west", version = "v2" } },
      { time = onset - 60, kind = "config", id = "cfg-9", service = "search" },
      { time = onset + 300, kind = "flag", id = "ff-1", service = "checkout" },
    }
    local trigger = inquest.events.rank(events, onset,
      { service = "checkout", region = "eu-west", version = "v2" })
    check(trigger[1].id, "4711")
    check(trigger[1].reasons[1], "at 2026-11-21T11:26:00Z, 4m before the onset")

    -- Summaries, then a finding that cites them
    check(inquest.summary(culprit), 'the 5xx ratio went from 1% to 2.18%: endpoint="/pay", '
      .. 'region="eu-west", version="v2" explains 100% of the rise (from 1% to 25%, on 4.92% '
      .. 'of the traffic).')
    local finding = {
      title = "5xx on /pay from v2 in eu-west", root_cause = "bad_deploy", confidence = 0.9,
      summary = inquest.summary(trigger),
      evidence = {
        moved[1].series,
        errors:filter(top.labels):evidence("5xx/s of the culprit"),
        { kind = "events", title = "deploys", items = { trigger[1].evidence } },
      },
    }
    ctx:finding(finding)
    local words = inquest.summary(finding)
    assert(words:find('deploy 4711 of checkout at 2026-11-21T11:26:00Z', 1, true), words)
    assert(words:find('series {dependency="payments-db"}', 1, true), words)

    -- Refusals name the function and the argument
    check(refusal(inquest.correlate.rank, target, candidates, {}),
      "inquest.correlate.rank: opts.onset (a time) is required")
    check(refusal(inquest.dimensions.explain, errors, { onset = onset, depth = 2 }),
      "inquest.dimensions.explain: unknown option 'depth' (options: dimensions, onset, before, "
      .. "after, agg, min_share, max_depth, top, name)")
    check(refusal(inquest.events.rank, events, "soon"),
      "inquest.events.rank: onset must be a time (Unix seconds; got string)")
    check(refusal(inquest.summary, 3), "inquest.summary: expects a result, a finding, a list "
      .. "of findings, a result of the toolkit or an evidence item (got number)")

    ctx:conclude("passed", inquest.summary(culprit))
  end,
}
