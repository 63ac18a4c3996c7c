-- inquest.series end to end: series and sets made, read, combined, aggregated, ranked and put
-- in a finding's evidence; refusals of bad arguments, by pcall.
local inquest = require "inquest"
local S = inquest.series

-- "t:v t:v …", NaN as "nan": one string to compare a whole series with.
local function pts(s)
  local out = {}
  for t, v in s:points() do
    out[#out + 1] = v ~= v and ("%.14g:nan"):format(t) or ("%.14g:%g"):format(t, v)
  end
  return table.concat(out, " ")
end

-- The message of the error 'f' raises, without its position.
local function refusal(f, ...)
  local ok, err = pcall(f, ...)
  assert(not ok, "no error")
  return (tostring(err):gsub("^[^:]*:%d+: ", ""))
end

local function check(got, want)
  assert(got == want, ("got %q, want %q"):format(got, want))
end

return inquest.analyzer {
  name = "sdk.series_test", owner = "tests", description = "inquest.series",
  run = function(ctx)
    local t0 = ctx.now - 300
    local function series(labels, values)
      local points = {}
      for i, v in ipairs(values) do points[i] = { t0 + 60 * (i - 1), v } end
      return S.new { labels = labels, points = points }
    end
    local nan = 0 / 0
    local errors = S.set {
      series({ service = "checkout", endpoint = "/cart", code = "500" }, { 1, 1, 2, 30, 32, 31 }),
      series({ service = "checkout", endpoint = "/pay", code = "500" }, { 0, 1, 0, 1, nan, 0 }),
      series({ service = "checkout", endpoint = "/cart", code = "503" }, { 0, 0, 0, 5, 6, 4 }),
      series({ service = "search", endpoint = "/q", code = "500" }, { 3, 3, 3, 3, 3, 3 }),
    }

    -- Reading
    local cart = errors[1]
    assert(#errors == 4 and #cart == 6)
    assert(cart.labels.endpoint == "/cart" and cart:label("code") == "500")
    local t, v = cart:last()
    assert(t == ctx.now and v == 31)
    v, t = cart:max()
    assert(v == 32 and t == ctx.now - 60)
    assert(cart:sum() == 97 and cart:mean() == 97 / 6 and cart:quantile(0.5) == 16)
    assert(#cart:values() == 6 and cart:times()[1] == t0)
    assert(tostring(cart):find('^series{code="500", endpoint="/cart", service="checkout"} %(6 points'))

    -- Arithmetic joins on equal times; scalars apply to every point
    local before = cart:slice(nil, t0 + 120)
    assert(#before == 3 and before:mean() == 4 / 3)
    check(pts((cart - errors[3]):slice(t0 + 180)), ("%d:25 %d:26 %d:27"):format(
      t0 + 180, t0 + 240, t0 + 300))
    assert(pts(cart / 0):find("nan") and (cart * 2):sum() == 194 and (-cart):max() == -1)
    local ratio = cart / (cart + errors[3])
    assert(ratio:at(1) == t0 and select(2, ratio:at(1)) == 1)
    assert(select(2, ratio:at(2)) == 1 and ratio.labels.code == nil)

    -- Sets: filter, group, aggregate, rank
    local checkout = errors:filter { service = "checkout" }
    assert(#checkout == 3 and #errors:filter { code = { "503", "504" } } == 1)
    assert(#errors:filter(function(s) return s:max() > 10 end) == 1)
    local by_code = errors:group_by("code")
    assert(#by_code["500"] == 3 and #by_code["503"] == 1)
    local per_endpoint = checkout:sum_by("endpoint")
    assert(#per_endpoint == 2 and per_endpoint[1].labels.endpoint == "/cart")
    check(pts(per_endpoint[1]:slice(t0 + 240)), ("%d:38 %d:35"):format(t0 + 240, t0 + 300))
    local total = errors:total()
    assert(#total == 6 and select(2, total:last()) == 38 and next(total.labels) == nil)
    check(pts(errors:sum_by("service")[1]:slice(t0 + 240)),
      ("%d:38 %d:35"):format(t0 + 240, t0 + 300)) -- the NaN is left out
    assert(errors:top(1)[1] == cart and errors:top(2, "mean")[2] == errors[4])
    assert(errors:top(1, "last")[1] == cart)
    local codes = errors:labels("code")
    assert(#codes == 2 and codes[1] == "500" and codes[2] == "503")
    local aligned = errors:align(120)
    assert(#aligned == 4 and #aligned[1] == 3)

    -- Evidence: a series or a set goes in as it is, or through :evidence(title, unit)
    ctx:finding {
      title = "5xx on /cart", root_cause = "bad_deploy", confidence = 0.8,
      evidence = { errors, cart, per_endpoint:evidence("5xx by endpoint", "req/s") },
    }
    local item = cart:evidence("cart")
    assert(item.kind == "timeseries" and item.title == "cart" and #item.series == 1)
    assert(#item.series[1].points == 6 and item.series[1].labels.code == "500")

    -- Refusals name the method and the argument
    check(refusal(cart.align, cart, -1), "series:align: step must be > 0 (got -1)")
    check(refusal(cart.quantile, cart, 2), "series:quantile: q must be from 0 to 1 (got 2)")
    check(refusal(S.new, { points = { { 1, 1 }, { 0, 1 } } }),
      "inquest.series.new: points[2][1]: times must increase (got 0 after 1)")
    check(refusal(S.new, { labels = { code = {} } }),
      "inquest.series.new: labels.code must be a string (got table)")
    check(refusal(S.set, { cart, "x" }), "inquest.series.set: item 2 must be a series (got string)")
    check(refusal(errors.top, errors, 3, "median"),
      'set:top: by must be one of max, min, mean, last, sum (got "median")')
    check(refusal(errors.filter, errors, { code = true }),
      "set:filter: code must be a string or a list of strings (got boolean)")
    check(refusal(function() return cart + "x" end),
      "series +: operands must be series or numbers (got string)")
    check(refusal(cart.align, errors, 60), "series:align: call it on a series, as s:align(…) (got table)")

    ctx:conclude("passed")
  end,
}
