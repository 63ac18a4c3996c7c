local inquest = require "inquest"
return inquest.analyzer {
  name = "sandbox.case", owner = "tests", description = "os has time and date only",
  run = function(ctx)
    assert(os.getenv == nil and os.exit == nil and os.remove == nil and os.clock == nil)
    assert(os.rename == nil and os.tmpname == nil and os.setlocale == nil)
    ctx:conclude("contained")
  end,
}
