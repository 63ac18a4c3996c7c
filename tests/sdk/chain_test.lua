-- ctx:call runs another analyzer and returns its result; cycles, depth and failures are clear.
local inquest = require "inquest"
return inquest.analyzer {
  name = "sdk.chain_test", owner = "tests", description = "ctx:call",
  run = function(ctx)
    local r = ctx:call("chain.leaf", { service = "checkout" })
    assert(r.status == "ok", r.status)
    assert(r.analyzer.name == "chain.leaf")
    assert(r.findings[1].title == "leaf saw checkout", r.findings[1].title)
    assert(r.conclusion.tag == "root_cause_found")
    assert(r.conclusion.summary == ("window 300 s, now %d"):format(ctx.now), r.conclusion.summary)
    assert(r.inputs.window == 300)
    assert(r.id == ctx.id .. ".1", r.id)

    -- A failure in a nested call comes back as that analyzer's result; these propagate it.
    r = ctx:call("cycle.a")
    assert(r.status == "error", r.status)
    assert(r.errors[1].message:find("sdk.chain_test → cycle.a → cycle.b → cycle.a", 1, true),
      r.errors[1].message)

    r = ctx:call("deep.d1")
    assert(r.status == "error" and r.errors[1].message:find("at most 4 deep", 1, true),
      r.errors[1].message)

    local ok, err = pcall(ctx.call, ctx, "sdk.chain_test")
    assert(not ok and err:find("cycle sdk.chain_test → sdk.chain_test", 1, true), err)

    ok, err = pcall(ctx.call, ctx, "no.such")
    assert(not ok and err:find("not found", 1, true), err)

    ok, err = pcall(ctx.call, ctx, "chain.leaf", { window = "2x" })
    assert(not ok and err:find("service: is required", 1, true), err)
    assert(err:find("window:", 1, true), err)

    r = ctx:call("chain.fails")
    assert(r.status == "error" and r.errors[1].message == "callee broke", r.errors[1].message)
    assert(r.errors[1].line == 4, r.errors[1].line)
    ctx:conclude("passed")
  end,
}
