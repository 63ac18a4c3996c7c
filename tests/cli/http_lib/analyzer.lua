-- tests/cli/http_lib/analyzer.lua -- the shared helpers of http.error_spike and
-- deploy.bad_rollout (analyzers/lib/http_common.lua, http_changes.lua, http_logs.lua) on values
-- with known answers.
local inquest = require "inquest"
local S = inquest.series
local H = require "lib.http_common"
local changes = require "lib.http_changes"
local logs = require "lib.http_logs"

local function check(got, want)
  if got ~= want then error(("got %s, want %s"):format(tostring(got), tostring(want)), 2) end
end

return inquest.analyzer {
  name = "tests.http_lib", owner = "tests", description = "the http_* helpers of analyzers/lib",
  run = function(ctx)
    -- Numbers as the reports write them: three significant digits, no trailing zeros.
    check(H.percent(0.2413), "24.1%")
    check(H.percent(1.001), "100%")
    check(H.percent(0.5), "50%")
    check(H.percent(0.00081), "0.081%")
    check(H.percent(0), "0%")
    check(H.percent(nil), "n/a")
    check(H.percent(0 / 0), "n/a")
    check(H.duration(0.1794), "179ms")
    check(H.duration(4.9), "4.9s")
    check(H.span(1800), "30m")
    check(H.span(5491), "1h31m31s")
    check(H.span(0), "0s")
    check(H.clock(1795183320), "14:02")

    -- RFC 3339 times of the deploy API, leap days included.
    check(changes.unix("2026-11-20T14:00:00Z"), 1795183200)
    check(changes.unix("2024-02-29T00:00:00Z"), 1709164800)
    check(changes.unix("1970-01-01T00:00:00Z"), 0)
    check(changes.unix("yesterday"), nil)

    -- A change as an item of events evidence, and found by its id.
    local list = { { id = "d-1", time = 10, kind = "deploy", service = "checkout", version = "v2",
                     region = "eu-west", text = "new client" } }
    check(changes.find(list, "d-1"), list[1])
    check(changes.find(list, "d-2"), nil)
    check(changes.item(list[1]).text, "v2 in eu-west: new client")

    -- LogQL selectors (sorted names, errors and warnings) and the message of a logfmt pattern.
    check(logs.selector { service = "checkout", region = "eu-west" },
          '{region="eu-west", service="checkout", level=~"error|warn"}')
    check(logs.selector { service = "catalog" }, '{service="catalog", level=~"error|warn"}')
    check(logs.message('level=error msg="payment gateway timeout after <*> gateway=paylink-eu <*>'),
          "payment gateway timeout after <*>")
    check(logs.message('level=warn msg="slow query" took_ms=<*>'), "slow query")
    check(logs.message("connection refused to <*>"), "connection refused to <*>")
    local changed = { { status = "increased", pattern = "a" }, { status = "new", pattern = "b" } }
    check(logs.headline(changed).pattern, "b")
    check(logs.headline({ changed[1] }).pattern, "a")
    check(logs.headline({}), nil)

    -- The place of a culprit: the labels its series (with traffic after 'from') agree on.
    local function series(labels, values)
      local pts = {}
      for i, v in ipairs(values) do pts[i] = { 60 * i, v } end
      return S.new { labels = labels, points = pts }
    end
    local set = S.set {
      series({ endpoint = "/pay", version = "v2", region = "eu-west", instance = "a" }, { 0, 0, 5, 5 }),
      series({ endpoint = "/pay", version = "v2", region = "eu-west", instance = "b" }, { 0, 0, 4, 6 }),
      series({ endpoint = "/pay", version = "v1", region = "us-east", instance = "c" }, { 3, 3, 3, 3 }),
      series({ endpoint = "/pay", version = "v2", region = "us-east", instance = "d" }, { 2, 2, 0, 0 }),
    }
    local names = { "endpoint", "region", "version", "instance" }
    local place = H.place(set, { endpoint = "/pay", version = "v2" }, 180, names)
    check(place.region, "eu-west") -- d had no traffic after 180
    check(place.instance, nil)     -- a and b
    check(H.where(place), "/pay in eu-west (v2)")
    check(H.place(set, { endpoint = "/pay" }, 180, names).region, nil)
    check(H.where {}, "every endpoint")

    -- A chart: the series on one grid (a late one blank before it starts), a mark at the grid
    -- point nearest its time.
    local chart = H.chart("t", "ratio", { series({ x = "1" }, { 1, 2, 3, 4 }),
                                           S.new { labels = { x = "2" }, points = { { 180, 7 }, { 240, 8 } } } },
                          { { time = 170, name = "deploy" } }, { from = 60, to = 240, step = 60 })
    check(#chart.series, 3)
    check(#chart.series[2].points, 4)
    local function nan(x) return x ~= x end
    check(nan(chart.series[2].points[1][2]), true) -- no point before it started
    check(chart.series[3].labels.mark, "deploy")
    check(chart.series[3].points[3][2], 8)  -- at 180, the highest value of the lines
    check(nan(chart.series[3].points[2][2]), true)

    -- The dimension table of a ratio: an element that had no traffic before says so.
    local rows = H.dimension_table({ { where = 'version="v2"', incident = 0.25, explains = 1, surprise = 0.3,
                                       score = 0.9 } }, "where", 6, true).rows
    check(rows[1][2], "(no traffic)")
    check(rows[1][3], "25%")
    ctx:conclude("passed")
  end,
}
