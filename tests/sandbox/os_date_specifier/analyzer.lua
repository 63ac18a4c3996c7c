local inquest = require "inquest"
return inquest.analyzer {
  name = "sandbox.case", owner = "tests", description = "os.date rejects conversions C does not define",
  run = function(ctx)
    assert(not pcall(os.date, "%Ez"))
    assert(not pcall(os.date, "%"))
    assert(os.date("!%Y-%m-%d") == "2026-11-21")
    ctx:conclude("contained")
  end,
}
