local inquest = require "inquest"
return inquest.analyzer {
  name = "web.other", owner = "tests", description = "named for another file",
  run = function(ctx) ctx:conclude("no_anomaly", "nothing") end,
}
