local inquest = require "inquest"
return inquest.analyzer {
  name = "sandbox.case", owner = "tests", description = "the collector cannot be stopped or tuned",
  run = function(ctx)
    for _, opt in ipairs { "stop", "incremental", "generational", "setpause" } do
      local ok = pcall(collectgarbage, opt)
      assert(not ok, opt)
    end
    assert(type(collectgarbage("count")) == "number")
    ctx:conclude("contained")
  end,
}
