local inquest = require "inquest"
return inquest.analyzer {
  name = "sandbox.case", owner = "tests", description = "math.randomseed() reseeds from the analysis id, not the clock",
  run = function(ctx)
    math.randomseed()
    local a = math.random(1, 1 << 40)
    math.randomseed()
    assert(math.random(1, 1 << 40) == a)
    ctx:conclude("contained")
  end,
}
