local inquest = require "inquest"
return inquest.analyzer {
  name = "sandbox.case", owner = "tests", description = "string.rep of nothing, a huge number of times, returns at once",
  run = function(ctx)
    assert(string.rep("", 1e15) == "")
    assert((""):rep(1 << 60, "") == "")
    assert(("ab"):rep(3, ",") == "ab,ab,ab")
    ctx:conclude("contained")
  end,
}
