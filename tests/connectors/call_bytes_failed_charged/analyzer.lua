local inquest = require "inquest"
return inquest.analyzer {
  name = "it.case", owner = "tests", description = "connector case",
  run = function(ctx)
    local mock = ctx.http("mock")
    -- chunked, over the connector's 1 MiB cap: found out after about 1 MiB was read
    local big, err = mock:get("/bytes/2000000?chunked=1", { raw = true })
    assert(not big and err:find("response larger than the 1 MiB cap", 1, true), err)
    -- what the failed call read is charged: some 512 KiB are left of 1.5 MiB, too few for this
    local next_one, why = mock:get("/bytes/600000", { raw = true })
    assert(not next_one, "a failed call was charged nothing")
    ctx:conclude("charged", why)
  end,
}
