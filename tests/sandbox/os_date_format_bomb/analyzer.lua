local inquest = require "inquest"
return inquest.analyzer {
  name = "sandbox.case", owner = "tests", description = "os.date refuses formats longer than 1 KiB",
  run = function(ctx)
    local ok, err = pcall(os.date, string.rep("%c", 100000))
    assert(not ok and err:find("longer than"), err)
    ctx:conclude("contained")
  end,
}
