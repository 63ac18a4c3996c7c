local inquest = require "inquest"
return inquest.analyzer {
  name = "sandbox.case", owner = "tests", description = "require refuses C modules and io",
  run = function(ctx)
    for _, m in ipairs { "io", "ffi", "debug", "package", "socket", "lib/../../etc/passwd", "lib...x" } do
      local ok, err = pcall(require, m)
      assert(not ok and err:find("not found"), m)
    end
    ctx:conclude("contained")
  end,
}
