local inquest = require "inquest"
return inquest.analyzer {
  name = "sandbox.case", owner = "tests", description = "load refuses bytecode, whatever mode is asked",
  run = function(ctx)
    local chunk = "\27LuaT\0\25\147\13\10\26\10\4\8\8"
    local f, err = load(chunk, "x", "b")
    assert(f == nil and err:find("binary chunk"), err)
    f, err = load(chunk)
    assert(f == nil and err:find("binary chunk"), err)
    ctx:conclude("contained")
  end,
}
