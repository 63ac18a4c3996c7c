local inquest = require "inquest"
return inquest.analyzer {
  name = "sandbox.case", owner = "tests", description = "table functions refuse tables whose __len or __index could drive a C loop",
  run = function(ctx)
    local t = setmetatable({}, { __len = function() return math.maxinteger // 2 end })
    for _, f in ipairs { "insert", "remove", "concat", "sort" } do
      local ok, err = pcall(table[f], t, 1)
      assert(not ok and err:find("not supported"), f .. ": " .. tostring(err))
    end
    local plain = { 3, 1, 2 }
    table.sort(plain)
    table.insert(plain, 4)
    assert(table.concat(plain, ",") == "1,2,3,4")
    ctx:conclude("contained")
  end,
}
