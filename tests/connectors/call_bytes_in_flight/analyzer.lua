local inquest = require "inquest"
return inquest.analyzer {
  name = "it.case", owner = "tests", description = "connector case",
  run = function(ctx)
    local fns = {}
    for i = 1, 40 do
      -- chunked: no Content-Length says the size before the bytes come
      fns[i] = function() return ctx.http("mock"):get("/bytes/262144?chunked=1", { raw = true }) end
    end
    local results, errors = ctx:parallel(fns)
    local read = 0
    for _, body in pairs(results) do read = read + #body end
    assert(read <= 1 << 20, ("40 calls in flight read %d bytes under a budget of 1 MiB"):format(read))
    for _, err in pairs(errors) do
      assert(err:find("limits.call_bytes (1 MiB in all)", 1, true), err)
    end
    ctx:conclude("within_budget")
  end,
}
