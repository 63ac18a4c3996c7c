local inquest = require "inquest"
local t = inquest.types
return inquest.analyzer {
  name = "Bad Name",
  description = "every problem at once",
  inputs = {
    service = t.string { patern = "^x$" },
    count = t.int { min = 5, max = 1 },
    ["9lives"] = t.bool {},
  },
  run = "not a function",
  colour = "blue",
  version = "1.0\xff",
  tags = { "ok", "bad\xfe" },
}
