local inquest = require "inquest"
return inquest.analyzer {
  name = "d.spike", owner = "tests", description = "beside two links to its parent folder",
  run = function(ctx) ctx:conclude("no_anomaly", "nothing") end,
}
