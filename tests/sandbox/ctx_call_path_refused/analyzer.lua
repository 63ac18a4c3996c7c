local inquest = require "inquest"
return inquest.analyzer {
  name = "sandbox.case", owner = "tests", description = "ctx:call takes analyzer names, not paths to files",
  run = function(ctx)
    local ok, err = pcall(ctx.call, ctx, "/etc/passwd")
    assert(not ok and err:find("not an analyzer name"), err)
    ok, err = pcall(ctx.call, ctx, "x.lua")
    assert(not ok and err:find("not an analyzer name"), err)
    ctx:conclude("contained")
  end,
}
