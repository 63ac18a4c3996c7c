local inquest = require "inquest"
return inquest.analyzer {
  name = "sandbox.case", owner = "tests", description = "anomaly detection's work in C is charged to the instruction budget",
  run = function(ctx)
    local times, values = {}, {}
    for i = 1, 200000 do times[i], values[i] = i * 60, i % 17 end
    local s = inquest.series.new { times = times, values = values }
    inquest.anomaly.detect(s)
  end,
}
