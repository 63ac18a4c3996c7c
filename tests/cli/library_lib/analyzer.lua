-- tests/cli/library_lib/analyzer.lua -- the analyzer library's shared modules (analyzers/lib/)
-- on constructed data with known answers: a change planted at a known time, a spike, a deploy
-- among unrelated ones, a slow host among a thousand, and the formatting every title uses.
local inquest = require "inquest"
local S = inquest.series
local fmt = require "lib.fmt"
local span = require "lib.span"
local onset = require "lib.onset"
local deploys = require "lib.deploys"
local metrics = require "lib.metrics"
local where = require "lib.where"
local evidence = require "lib.evidence"
local follow = require "lib.follow"

local function check(got, want)
  assert(got == want, ("got %s, want %s"):format(tostring(got), tostring(want)))
end

-- A series from 't0', a point a 'step', 'n' points, the value of point i given by f(i).
local function series(t0, step, n, f, labels)
  local pts = {}
  for i = 1, n do pts[i] = { t0 + (i - 1) * step, f(i) } end
  return S.new { labels = labels or {}, points = pts }
end

-- Deterministic noise in [-1, 1] for point i of series k.
local function noise(i, k)
  return ((i * 7919 + (k or 1) * 104729) % 201) / 100 - 1
end

local function test_fmt()
  check(fmt.percent(0.001), "0.1%")
  check(fmt.percent(0.35), "35%")
  check(fmt.percent(0.974), "97%")
  check(fmt.percent(0.0512), "5.1%")
  check(fmt.percent(nil), "n/a")
  check(fmt.percent(0 / 0), "n/a")
  check(fmt.seconds(0.42), "420 ms")
  check(fmt.seconds(12.5), "12.5 s")
  check(fmt.times(5.2, 1), "5.2x")
  check(fmt.times(1, 0), "from nothing")
  check(fmt.clock(1795262400 + 3 * 3600 + 120), "15:02")
end

local function test_span()
  check(span.step(3600), 120)
  check(span.step(600), 60)
  check(span.step(6 * 3600), 720)
  local from, to, step = span.of({ at = 1795262401, window = 3600 }, 3)
  check(step, 120)
  check(to, 1795262400) -- on the grid
  check(from, to - 3 * 3600)
end

local function test_metrics()
  check(metrics.expr("x{{sel},mode=\"idle\"}", { sel = 'job="node"' }), 'x{job="node",mode="idle"}')
  local q = metrics.expr(metrics.http.error_ratio, { service = "checkout" })
  assert(q:find('http_requests_total{service="checkout",code=~"5.."}', 1, true), q)
  assert(not q:find("{service}", 1, true), q)
  check(metrics.expr("{a} {b}", { a = "1" }), "1 {b}") -- a placeholder without a value stays
end

-- A level shift from 100 to 180 planted at point 91 of 120 (a minute apart), in noise of +-3.
local function test_onset(t0)
  local planted = t0 + 90 * 60
  local s = series(t0, 60, 120, function(i) return (i > 90 and 180 or 100) + 3 * noise(i) end)
  local cp = assert(onset.find(s, { from = t0 + 60 * 60 }), "no onset")
  check(cp.at, planted)
  assert(cp.before > 95 and cp.before < 105 and cp.after > 175, cp.before)
  -- Not after 'from', not down, not small: nothing.
  check(onset.find(s, { from = planted + 600 }), nil)
  check(onset.find(s, { direction = "down" }), nil)
  check(onset.find(s, { min_ratio = 1.5 }), nil)
  check(onset.find(s, { min_delta = 100 }), nil)
  local flat = series(t0, 60, 120, function(i) return 100 + 3 * noise(i) end)
  check(onset.find(flat), nil)
  -- A gap filled with 0 when asked, left out otherwise.
  local gappy = series(t0, 60, 120, function(i)
    return i > 90 and 50 or (i % 10 == 0 and 0 / 0 or 5)
  end)
  check(onset.find(gappy, { fill = 0 }).at, planted)

  local mark = onset.mark(cp, "requests", fmt.number)
  check(mark.kind, "change_point")
  check(mark.time, planted)
  assert(mark.text:find("^requests changed from 10%d to 1[78]%d"), mark.text)
end

-- A spike of 5 points planted at point 200 of 300 in a steady series: one anomaly mark there.
local function test_anomalies(t0)
  local s = series(t0, 60, 300, function(i)
    return (i >= 200 and i < 205 and 400 or 100) + 2 * noise(i)
  end)
  local marks, found = onset.anomalies(s, t0 + 150 * 60, fmt.number)
  assert(#found >= 1 and #marks >= 1, #found)
  check(marks[1].kind, "anomaly")
  assert(marks[1].time >= t0 + 199 * 60 and marks[1].time <= t0 + 203 * 60, marks[1].time)
  check(found[1].direction, "up")
end

-- The deploy 4 minutes before the onset is the suspect among others; alone after, old, or of
-- another service, none is.
local function test_deploys(onset_at)
  local events = {
    { time = onset_at - 3 * 3600, kind = "deploy", id = "old", service = "checkout" },
    { time = onset_at - 240, kind = "deploy", id = "d-1", service = "checkout" },
    { time = onset_at - 120, kind = "deploy", id = "other", service = "search" },
    { time = onset_at + 1800, kind = "deploy", id = "late", service = "checkout" },
  }
  local ranked = inquest.events.rank(events, onset_at, { service = "checkout" })
  check(deploys.suspect(ranked).id, "d-1")
  local scope = { service = "checkout" }
  check(deploys.suspect(inquest.events.rank({ events[1], events[4] }, onset_at, scope)), nil)
  check(deploys.suspect(inquest.events.rank({ events[3] }, onset_at, { service = "checkout" })), nil)
  check(deploys.suspect({}), nil)
end

-- Mean latency (sum / count) of 1,000 hosts; host-417 three times slower after the onset.
local function test_where(t0)
  local onset_at = t0 + 40 * 60
  local sums, counts = {}, {}
  for h = 1, 1000 do
    local host = ("host-%d"):format(h)
    local rate = 10 + h % 7
    counts[h] = series(t0, 60, 60, function(i) return rate * (1 + 0.02 * noise(i, h)) end, { instance = host })
    sums[h] = series(t0, 60, 60, function(i)
      local slow = (host == "host-417" and t0 + (i - 1) * 60 >= onset_at) and 3 or 1
      return rate * 0.1 * slow * (1 + 0.02 * noise(i, h + 1))
    end, { instance = host })
  end
  sums, counts = S.set(sums), S.set(counts)
  local found = assert(inquest.dimensions.explain_ratio(sums, counts, { onset = onset_at }))
  check(found[1].where, 'instance="host-417"')
  assert(where.only_hosts(found[1].labels))
  assert(not where.only_hosts({ instance = "a", version = "v2" }))
  assert(not where.only_hosts({}))
  local words = where.sentence(found, "The mean latency", fmt.seconds)
  assert(words:find('^The mean latency went from 100 ms to 10%d ms: instance="host%-417" explains '
    .. '1?%d%d%% of the rise %(100 ms to 300 ms'), words)
  local tab = where.table(found, "where", fmt.seconds, 3)
  check(tab.kind, "table")
  check(tab.rows[1][1], 'instance="host-417"')
  check(tab.rows[1][3], "300 ms")
  local ratios = where.ratios(found, sums, counts, 1, 1000)
  check(#ratios, 1)
  check(ratios[1]:label("instance"), "host-417")
  local _, last = ratios[1]:last()
  assert(math.abs(last - 300) < 10, last)
end

local function test_evidence(t0)
  local set = S.set { series(t0, 60, 3, function() return 0.5 end, { instance = "a" }),
                      series(t0, 60, 3, function() return 0.9 end, { instance = "b" }) }
  local top = evidence.top(set, 1, 100)
  check(#top, 1)
  check(top[1]:label("instance"), "b")
  check(select(2, top[1]:last()), 90)
  local tab = evidence.table("t", { "x" }, { 1, 2, 3 }, function(v) return { v * 2 } end, 2)
  check(#tab.rows, 2)
  check(tab.rows[2][1], 4)
end

local function test_follow()
  local names = follow.names()
  check(table.concat(names, ","),
        "deploy.bad_rollout,host.saturation,http.error_spike,logs.error_burst")
  local i = follow.INPUTS["host.saturation"]("checkout", "payments-db", { at = 1, window = 60 })
  check(i.selector, 'job="node",service="payments-db"')
  check(follow.INPUTS["logs.error_burst"]("checkout", "payments-db", { at = 1, window = 60 }).service,
        "checkout")
  check(follow.INPUTS["deploy.bad_rollout"]("checkout", "payments-db", { at = 1, window = 60 }).service,
        "payments-db")
end

return inquest.analyzer {
  name = "library.lib_test", owner = "tests", description = "analyzers/lib on constructed data",
  run = function(ctx)
    local t0 = ctx.now - 6 * 3600
    test_fmt()
    test_span()
    test_metrics()
    test_onset(t0)
    test_anomalies(t0)
    test_deploys(ctx.now - 1800)
    test_where(t0)
    test_evidence(t0)
    test_follow()
    ctx:conclude("passed")
  end,
}
