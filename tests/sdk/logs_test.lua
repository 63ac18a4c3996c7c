-- inquest.logs end to end: masking, the patterns of log entries as ctx.logs gives them and of
-- strings, a miner fed line by line, a baseline compared with an incident (a planted new error
-- and a planted jump among steady patterns), lists in a finding's evidence, and refusals of bad
-- arguments, by pcall.
local inquest = require "inquest"
local logs = inquest.logs

-- The message of the error 'f' raises, without its position.
local function refusal(f, ...)
  local ok, err = pcall(f, ...)
  assert(not ok, "no error")
  return (tostring(err):gsub("^[^:]*:%d+: ", ""))
end

local function check(got, want)
  if got ~= want then error(("got %q, want %q"):format(tostring(got), tostring(want)), 2) end
end

-- Log entries as a Loki query gives them: { time, ns, line, labels }, one labels table a stream.
local function entries(from, lines, step)
  local labels = { app = "checkout", namespace = "shop" }
  local out = {}
  for i, line in ipairs(lines) do
    local t = from + (i - 1) * step
    out[i] = { time = t, ns = ("%d000000000"):format(t), line = line, labels = labels }
  end
  return out
end

return inquest.analyzer {
  name = "sdk.logs_test", owner = "tests", description = "inquest.logs",
  run = function(ctx)
    -- Masking: values become <*>, adjacent ones one, words stay
    check(logs.mask("Failed password for root from 10.0.0.1 port 22 ssh2"),
      "Failed password for root from <*> port <*> ssh2")
    check(logs.mask({ line = "lifetime <1 sec, 18846 bytes (18.4 KB) received" }),
      "lifetime <*> received")
    check(logs.mask("GET /api/cart/4f1c2a3e-93b1-4c7e-8d3a-2b6f0e9c1d7a 503 in 12ms"),
      "GET <*> in <*>") -- the path with an id and the status next to it: one value

    -- Patterns of entries: the most frequent first, each with a sample and its first and last time
    local lines = {}
    for i = 1, 60 do
      lines[#lines + 1] = ("GET /cart 200 in %dms"):format(i)
      if i % 3 == 0 then
        lines[#lines + 1] = ("user %s logged in from 10.0.0.%d"):format(({ "ann", "bo", "cy", "di" })[i % 4 + 1], i)
      end
      if i % 20 == 0 then lines[#lines + 1] = "state changed to " .. (i == 40 and "LEADING" or "FOLLOWING") end
    end
    local pats = logs.patterns(entries(ctx.now - 3600, lines, 10))
    check(#pats, 4)
    check(pats.lines, #lines)
    check(pats.dropped, 0)
    check(pats[1].pattern, "GET /cart <*> in <*>")
    check(pats[1].count, 60)
    check(pats[1].sample, "GET /cart 200 in 1ms")
    check(#pats[1].samples, 1) -- one shape: one example; a line of each shape, the most frequent first
    check(pats[1].first, ctx.now - 3600)
    check(pats[2].pattern, "user <*> logged in from <*>")
    check(pats[2].count, 20)
    check(#pats[2].samples, 3)
    check(pats[3].pattern, "state changed to FOLLOWING") -- two words at one place: two patterns
    check(pats[3].count, 2)
    check(pats[4].pattern, "state changed to LEADING")
    assert(pats[4].first == pats[4].last)
    -- strings work too, without times
    local plain = logs.patterns(lines)
    check(#plain, 4)
    assert(plain[1].first == nil and plain[1].count == 60)
    check(#logs.patterns({}), 0)

    -- A miner, line by line (a string or an entry), then matched
    local m = logs.miner { similarity = 0.5, split_max = 3 }
    for _, e in ipairs(entries(ctx.now - 600, lines, 1)) do m:add(e) end
    m:add_all(lines)
    check(#m, 2 * #lines)
    assert(tostring(m):find("^log miner %(" .. 2 * #lines .. " lines, "))
    local mp = m:patterns()
    check(mp[1].count, 120)
    check(m:match("user zed logged in from 10.9.9.9").pattern, "user <*> logged in from <*>")
    check(m:match("GET /cart 404 in 3ms").pattern, "GET /cart <*> in <*>")
    check(m:match("state changed to OBSERVING"), nil) -- a third word: none of the two patterns
    check(m:match("something else entirely"), nil)
    m:add("one line more")
    check(#m:patterns(), 5)

    -- Compare: an hour of baseline with ten minutes of incident. Steady traffic, one pattern
    -- that jumps, one new error; and a pattern that is gone.
    local base, inc = {}, {}
    for i = 1, 360 do
      base[#base + 1] = { time = ctx.now - 4200 + 10 * i, line = ("GET /cart 200 in %dms"):format(i % 50) }
      if i % 36 == 0 then
        base[#base + 1] = { time = ctx.now - 4200 + 10 * i, line = ("retrying request %d to payments"):format(i) }
      end
      if i % 12 == 0 then
        base[#base + 1] = { time = ctx.now - 4200 + 10 * i, line = "heartbeat ok" }
      end
    end
    for i = 1, 60 do
      inc[#inc + 1] = { time = ctx.now - 600 + 10 * i, line = ("GET /cart 200 in %dms"):format(i % 50) }
      inc[#inc + 1] = { time = ctx.now - 600 + 10 * i, line = ("retrying request %d to payments"):format(i) }
      if i >= 30 then
        inc[#inc + 1] = { time = ctx.now - 600 + 10 * i,
          line = ("payment failed: connection refused to db-%d.internal:5432"):format(i % 3) }
      end
    end
    local changes = logs.compare(base, inc, { baseline_window = 3600, incident_window = 600 })
    check(#changes, 2) -- the most significant first: the jump, then the new error
    local up, new = changes[1], changes[2]
    check(new.status, "new")
    check(new.pattern, "payment failed: connection refused to <*>")
    check(new.count, 31)
    check(new.baseline_count, 0)
    check(new.rate, 3.1)
    check(new.ratio, math.huge)
    check(new.sample, "payment failed: connection refused to db-0.internal:5432")
    check(new.first, ctx.now - 300)
    check(new.last, ctx.now)
    assert(new.p_value < 1e-20)
    check(up.status, "increased")
    check(up.pattern, "retrying request <*> to payments")
    check(up.count, 60)
    check(up.baseline_count, 10)
    check(up.ratio, 36)
    assert(up.p_value < new.p_value)
    check(up.baseline_sample, "retrying request 36 to payments")
    check(changes.baseline_window, 3600)
    check(changes.incident_lines, #inc)
    check(changes.patterns, 4)
    -- all = true: every pattern with its status, the steady traffic and the gone heartbeat too
    local all = logs.compare(base, inc, { baseline_window = 3600, incident_window = 600, all = true })
    check(#all, 4)
    local by = {}
    for _, c in ipairs(all) do by[c.pattern] = c end
    check(by["GET /cart <*> in <*>"].status, "steady")
    check(by["heartbeat ok"].status, "gone")
    check(by["heartbeat ok"].count, 0)
    check(by["heartbeat ok"].sample, "heartbeat ok") -- from the baseline, having none in the incident
    -- without windows, the span of each list's times (at least a minute)
    local spans = logs.compare(base, inc)
    check(spans.baseline_window, 3590)
    check(spans.incident_window, 590)
    -- strings have no times: windows are needed
    check(refusal(logs.compare, { "a" }, { "b" }),
      "inquest.logs.compare: baseline_window is needed: the baseline entries have no times")
    check(#logs.compare({ "a 1" }, { "a 2", "b 3", "b 4" }, { baseline_window = 60, incident_window = 60 }), 1)

    -- Evidence: a list goes straight into a finding, or through :evidence(title)
    local ev = changes:evidence("new and rising log patterns")
    check(ev.kind, "log_patterns")
    check(ev.title, "new and rising log patterns")
    check(#ev.items, 2)
    check(ev.items[2].pattern, new.pattern)
    check(ev.items[2].count, 31)
    check(ev.items[2].sample, new.sample)
    check(pats:evidence().title, "log patterns")
    local many = {}
    for i = 1, 150 do many[i] = ("event%d happened"):format(i) end -- 150 first words: 150 patterns
    local long = logs.patterns(many)
    check(#long, 150)
    check(#long:evidence().items, 101) -- the finding's cap of 100 cuts it and marks it truncated
    ctx:finding {
      title = "payments fail", root_cause = "dependency.failure",
      evidence = { changes, pats:evidence("all patterns"), long },
    }

    -- Refusals
    check(refusal(logs.patterns, "x"), "inquest.logs.patterns: entries must be a list of log entries or strings (got string)")
    check(refusal(logs.patterns, { "a", 42 }),
      "inquest.logs.patterns: entries[2] must be a string or a log entry { line = \"…\" } (got number)")
    check(refusal(logs.patterns, { { time = 1 } }),
      "inquest.logs.patterns: entries[1] must be a string or a log entry { line = \"…\" } (got table)")
    check(refusal(logs.patterns, {}, { simlarity = 0.5 }),
      "inquest.logs.patterns: unknown option 'simlarity' (options: similarity, split_max, max_shapes, max_line)")
    check(refusal(logs.patterns, {}, { all = true }),
      "inquest.logs.patterns: unknown option 'all' (options: similarity, split_max, max_shapes, max_line)")
    check(refusal(logs.miner, { similarity = 2 }), "inquest.logs.miner: similarity must be a number from 0.01 to 1")
    check(refusal(logs.miner, { split_max = 2.5 }), "inquest.logs.miner: split_max must be a whole number from 1 to 64")
    check(refusal(logs.compare, {}, {}, { alpha = "x" }), "inquest.logs.compare: alpha must be a number from 0 to 1")
    check(refusal(logs.compare, {}, {}, { all = 1 }), "inquest.logs.compare: all must be a boolean (got number)")
    check(refusal(logs.compare, {}, "x"),
      "inquest.logs.compare: incident must be a list of log entries or strings (got string)")
    check(refusal(m.add, m, 1), "miner:add: entry must be a string or a log entry { line = \"…\" } (got number)")
    check(refusal(m.add, {}, "x"), "miner:add: call it on a miner, as m:add(…) (got table)")
    check(refusal(logs.mask, nil), "inquest.logs.mask: line must be a string or a log entry { line = \"…\" } (got nil)")
    check(refusal(pats.evidence, pats, 5), "patterns:evidence: title must be a string (got number)")

    ctx:conclude("root_cause_found", "inquest.logs works")
  end,
}
