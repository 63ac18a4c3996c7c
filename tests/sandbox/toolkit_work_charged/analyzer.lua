local inquest = require "inquest"
return inquest.analyzer {
  name = "sandbox.case", owner = "tests", description = "the toolkit's work in C is charged to the instruction budget",
  run = function(ctx)
    local times, values = {}, {}
    for i = 1, 20000 do times[i], values[i] = i * 60, i % 17 end
    local s = inquest.series.new { times = times, values = values }
    local candidates = {}
    for i = 1, 200 do candidates[i] = s end
    inquest.correlate.rank(s, candidates, { onset = 15000 * 60, before = 14000 * 60, max_lag = 60 * 500 })
  end,
}
