-- inquest.anomaly and inquest.changepoint inside the sandbox, as an analyzer uses them: planted
-- spikes, dips and level shifts found where they were planted; the stream agreeing with the
-- window form; a daily peak that is no anomaly and a missing one that is; the onset of an error
-- ratio's jump; anomalies as a finding's evidence; refusals, by pcall.
local inquest = require "inquest"
local S, A = inquest.series, inquest.anomaly

-- The message of the error 'f' raises, without its position.
local function refusal(f, ...)
  local ok, err = pcall(f, ...)
  assert(not ok, "no error")
  return (tostring(err):gsub("^[^:]*:%d+: ", ""))
end

local function check(got, want)
  assert(got == want, ("got %q, want %q"):format(tostring(got), tostring(want)))
end

-- Noise from a fixed generator: the same series on every run.
local seed = 7
local function noise()
  local sum = 0
  for _ = 1, 4 do
    seed = (seed * 1103515245 + 12345) % 2147483648
    sum = sum + seed / 2147483648
  end
  return sum - 2 -- about ±1
end

return inquest.analyzer {
  name = "sdk.anomaly_test", owner = "tests", description = "inquest.anomaly, inquest.changepoint",
  run = function(ctx)
    local t0 = ctx.now - 2000 * 60
    local function minutes(f)
      local pts = {}
      for i = 1, 2000 do pts[i] = { t0 + 60 * (i - 1), f(i) } end
      return S.new { labels = { service = "checkout" }, points = pts }
    end

    -- A spike at 500, a dip at 900, a lasting shift from 1400: three anomalies
    local s = minutes(function(i)
      local v = 100 + 2 * noise()
      if i == 500 then v = v + 40 elseif i == 900 then v = v - 40 end
      return i >= 1400 and v + 25 or v
    end)
    local found = A.detect(s)
    check(#found, 3)
    local spike, dip, shift = found[1], found[2], found[3]
    check(spike.kind, "spike"); check(spike.direction, "up")
    check(spike.start, t0 + 499 * 60); check(spike["end"], spike.start); check(spike.peak, spike.start)
    assert(math.abs(spike.magnitude - 40) < 6 and spike.score > 10 and spike.points == 1)
    assert(math.abs(spike.expected - 100) < 2 and spike.baseline == "rolling")
    check(dip.kind, "dip"); check(dip.direction, "down"); check(dip.start, t0 + 899 * 60)
    check(shift.kind, "level_shift"); check(shift.direction, "up"); check(shift.start, t0 + 1399 * 60)
    assert(math.abs(shift.magnitude - 25) < 6)

    -- from: the earlier points only teach the baselines
    local late = A.detect(s, { from = t0 + 1000 * 60 })
    check(#late, 1); check(late[1].kind, "level_shift")

    -- The stream, one point at a time, ends the same anomalies
    local st, ended, points = A.stream(), {}, 0
    for t, v in s:points() do
      local open, closed = st:push(t, v)
      if open then points = points + 1; assert(open.start <= t and open["end"] == t) end
      if closed then ended[#ended + 1] = closed end
    end
    ended[#ended + 1] = st:flush()
    check(#ended, 3)
    for i = 1, 3 do
      for _, k in ipairs { "start", "end", "kind", "direction", "score", "magnitude" } do
        check(ended[i][k], found[i][k])
      end
    end
    check(points, spike.points + dip.points + shift.points)
    local expected, z, baseline = st:last()
    assert(math.abs(expected - 125) < 3 and math.abs(z) < 5 and baseline == "rolling")
    assert(tostring(st):find("^anomaly stream"))

    -- Nine days at a 5-minute step with a peak every day at noon; day 8 has none
    local pts, day = {}, 288
    for i = 1, 9 * day do
      local slot = (i - 1) % day
      local peak = slot >= 144 and slot < 168 and (i - 1) // day ~= 7
      pts[i] = { ctx.now - 9 * 86400 + 300 * (i - 1), 50 + noise() * 2 + (peak and 40 or 0) }
    end
    local daily = S.new { points = pts }
    local after = ctx.now - 9 * 86400 + 2 * 86400 -- once the daily baseline has judged a day
    local seen = A.detect(daily, { from = after })
    check(#seen, 1)
    check(seen[1].direction, "down"); check(seen[1].baseline, "daily")
    assert(seen[1].start >= pts[7 * day + 144][1] and seen[1].start < pts[7 * day + 168][1])
    -- without seasons no baseline knows a peak is due: the missing one goes unseen
    for _, a in ipairs(A.detect(daily, { from = after, seasons = false })) do
      assert(a.start < pts[7 * day + 144][1] or a.start >= pts[7 * day + 168][1])
    end

    -- The onset of a jump in an error ratio
    local requests = minutes(function() return 1000 + 20 * noise() end)
    local errors = minutes(function(i) return (i >= 1700 and 80 or 5) + 3 * noise() end)
    local onset, all = inquest.changepoint(errors / requests)
    check(#all, 1)
    check(onset.at, t0 + 1699 * 60); check(onset.index, 1700); check(onset.direction, "up")
    assert(onset.confidence > 0.999 and onset.before < 0.01 and onset.after > 0.07)
    assert(math.abs(onset.delta - (onset.after - onset.before)) < 1e-12)
    check(inquest.changepoint(requests), nil)
    check(select("#", inquest.changepoint(requests)), 2)
    check(inquest.anomaly.changepoint, inquest.changepoint)

    -- Anomalies as evidence: a table of them, and the series around the first
    local rows = {}
    for i, a in ipairs(found) do
      rows[i] = { os.date("!%H:%M", a.start), a.kind, a.direction, a.magnitude, a.score }
    end
    ctx:finding {
      title = "checkout moved", confidence = onset.confidence,
      evidence = {
        { kind = "table", title = "anomalies", columns = { "start", "kind", "direction",
          "magnitude", "score" }, rows = rows },
        s:slice(spike.start - 600, spike["end"] + 600):evidence("around the spike", "req/s"),
      },
    }

    -- The defaults are there to read; changing the copy changes nothing
    local d = A.defaults()
    check(d.window, 2016); check(d.risk, 1e-4); check(d.seasons[2], "week")
    d.window = 3
    check(#A.detect(s), 3)

    -- Refusals name the function and the option
    check(refusal(A.detect, "x"), "inquest.anomaly.detect: series must be a series (got string)")
    check(refusal(A.detect, s, { threshold = -1 }), "inquest.anomaly.detect: threshold must be > 0 (got -1)")
    check(refusal(A.stream, { level = 0 }), "inquest.anomaly.stream: level must be from 1 to window (got 0)")
    check(refusal(st.push, st, t0, 1), ("stream:push: times must be finite and increase (got %d after %d)")
      :format(t0, ctx.now - 60))
    check(refusal(st.push, st, "now", 1), "stream:push: t must be a number (got string)")
    check(refusal(inquest.changepoint, s, { max_changes = 1000 }),
      "inquest.changepoint: max_changes must be from 1 to 100 (got 1000)")
    check(refusal(inquest.changepoint, s, { min_size = -1 }),
      "inquest.changepoint: min_size must be a whole number >= 0 (got -1)")

    ctx:conclude("passed")
  end,
}
