local inquest = require "inquest"
return inquest.analyzer {
  name = "deep.d7", owner = "tests", description = "the bottom", run = function() end,
}
