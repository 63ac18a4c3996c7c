local inquest = require "inquest"
return inquest.analyzer {
  name = "sandbox.case", owner = "tests", description = "a decoded answer counts against the memory budget",
  run = function(ctx)
    local api = ctx.http("api")
    -- 100 KB of [0,0,…]: some 2 MB once decoded in C, over the 1 MiB budget
    local zeros, err = api:get("/zeros")
    assert(zeros == nil, "the answer was decoded outside the budget")
    local small = assert(api:get("/small")) -- the analysis goes on
    ctx:conclude(small.ok and "refused" or "?", err)
  end,
}
