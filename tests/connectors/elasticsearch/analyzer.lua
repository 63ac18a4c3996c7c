local inquest = require "inquest"
return inquest.analyzer {
  name = "it.case", owner = "tests", description = "connector case",
  run = function(ctx)
    local es = ctx.search("es")
    local found = assert(es:search("checkout-*", { query = { match = { message = "timeout" } }, size = 5 }))
    assert(found.total > 0 and #found.hits > 0 and found.hits[1].source and found.hits[1].id, "hits")
    assert(found.aggregations, "aggregations")
    local none, err = es:search("bad", { query = { match = {} } })
    assert(none == nil and err:find("^es: HTTP 400: parsing_exception: "), err)
    local missing, why = es:search("missing", { query = { match_all = {} } })
    assert(missing == nil and why:find("index_not_found_exception", 1, true), why)
    assert(not pcall(es.search, es, "a b", {}), "an index name with a space is misuse")
    ctx:conclude("searched")
  end,
}
