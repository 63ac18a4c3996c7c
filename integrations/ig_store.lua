#!lua name=inquest_ig
-- integrations/ig_store.lua -- the Redis 7 function library of what people and the insights job
-- add to analyses (docs/console.md): verdicts on analyses (feedback) and the daily counts of
-- finished analyses (insights). Every change is one call of one of these functions, so it is
-- atomic. The C side (integrations/ig_store.c) embeds this text and loads it as the library
-- inquest_ig_vVERSION, with functions inquest_ig_vVERSION_NAME, after the shared prelude
-- (runtime/rt_fnlib_prelude.lua: wrap, register), when Redis lacks it (runtime/rt_fnlib.h:
-- programs of two versions work side by side during an upgrade). A library of its own, beside
-- the queue's (runtime/rt_queue.lua) and the post-processor's (postproc/pp_chain.lua), whose
-- keys it reads.
--
-- Keys, under the queue's prefix P ("{name}:", ARGV[1]):
--   P.."results"       the queue's results stream; this library's group 'insights' reads it
--   P.."a:ID"          the queue's status hash of analysis ID (read only)
--   P.."fb:ID"         list: the verdicts on analysis ID as JSON, newest first (at most
--                      FB_KEEP); expires feedback.ttl after the last one
--   P.."fb:log"        stream: the verdicts, for the export; trimmed by age (feedback.ttl), and
--                      an analysis' verdicts leave it as they leave its list (at most FB_KEEP)
--   P.."in:DAY"        hash: counts of the analyses that finished on UTC day DAY (YYYYMMDD);
--                      expires insights.retention after the end of the day
--   P.."in:DAY:names:A"
--                      set: the services and alerts of analyzer A (escaped) counted on DAY,
--                      which a cap bounds per analyzer
--   P.."in:since"      string: when insights first ran on this queue (ms)
--
-- Fields of P.."in:DAY" ('|' separates; the C side %-escapes '%' and '|' in names):
--   t|A          the team (owner) of analyzer A            o|A|OUTCOME   analyses by outcome
--   d|A|B        analyses by duration bucket B             r|A|CAUSE     by top root cause
--   so|A|S|OUTCOME, sd|A|S|B, sr|A|S|CAUSE                 the same for service S
--   ao|A|L|OUTCOME, ad|A|L|B, ar|A|L|CAUSE                 the same for alert L
--   f|A|VERDICT  analyses of A whose latest verdict is VERDICT (correct, wrong, partly)
--
-- Invariants: a results entry is counted by the call that acknowledges it in the group, so each
-- finished analysis is counted once, whichever process read it and however often it was read;
-- an analysis' verdict is counted in the bucket of the day it finished, once: a new verdict
-- takes the previous one's count back; an analysis holds at most FB_KEEP verdicts, in its list
-- and in the export stream alike, so that giving verdicts in a loop cannot grow Redis.

local VERSION = 6
local GROUP = 'insights'
local FB_KEEP = 20     -- verdicts kept per analysis (IG_FEEDBACK_KEEP in ig_store.h)
local ITEM = 10        -- values per analysis of fold
local VERDICTS = {correct = true, wrong = true, partly = true}

local function fail(code, msg)
  error(code .. ' ' .. msg, 0)
end

local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

local function int(x)
  return string.format('%d', x)
end

local function num(s, what)
  local v = tonumber(s)
  if not v then fail('EINPUT', what .. ' is not a number') end
  return v
end

local function add(counts, field, n)
  counts[field] = (counts[field] or 0) + (n or 1)
end

-- The name to count service or alert 'name' ('kind' "s" or "a") under on a day: itself, or
-- '(other)' once the analyzer's set 'names' for the day holds 'cap' names, so that free-text labels
-- cannot grow a day's hash without bound. The cap is the analyzer's own: one analyzer's many labels
-- do not push another team's services into '(other)'.
local function within(names, kind, name, cap)
  local member = kind .. '|' .. name
  if redis.call('SISMEMBER', names, member) == 1 then return name end
  if redis.call('SCARD', names) >= cap then return '(other)' end
  redis.call('SADD', names, member)
  return name
end

-- KEYS: results.  ARGV: prefix, retention_ms, cap, n, then per analysis ITEM values: results
-- entry, day (YYYYMMDD), the day's end (ms), analyzer, team, service, alert, outcome, root cause,
-- duration bucket (each name escaped, '' when none). An entry lists the analyses of one call
-- that made them final, so several items may name it: every analysis of an entry must be in the
-- same call. Acknowledges each entry in the group 'insights' and counts its analyses when that
-- acknowledged it (an entry another consumer counted already is skipped); 'cap' bounds the
-- services and alerts of an analyzer a day. Returns {counted, n}.
local function fold(keys, args)
  local prefix, retention, cap = args[1], num(args[2], 'retention'), num(args[3], 'cap')
  local n = num(args[4], 'n')
  if #args ~= 4 + n * ITEM then fail('EINPUT', 'expected ' .. ITEM .. ' values per analysis') end
  -- Everything is checked before the first write: a function that fails half way keeps what it
  -- wrote, and an entry acknowledged without its count would never be counted.
  for i = 0, n - 1 do
    local a = 5 + i * ITEM
    if not string.match(args[a], '^%d+%-%d+$') then
      fail('EINPUT', 'entry ' .. args[a] .. ' is not a stream id')
    end
    if args[a + 3] ~= '' and not string.match(args[a + 1], '^%d%d%d%d%d%d%d%d$') then
      fail('EINPUT', 'day ' .. args[a + 1] .. ' is not YYYYMMDD')
    end
    num(args[a + 2], 'day_end')
  end
  local counts, teams, ends, sets, counted = {}, {}, {}, {}, 0
  local acked = {} -- entry -> acknowledged by this call
  for i = 0, n - 1 do
    local a = 5 + i * ITEM
    local entry, day, day_end, analyzer = args[a], args[a + 1], args[a + 2], args[a + 3]
    local team, service, alert, outcome = args[a + 4], args[a + 5], args[a + 6], args[a + 7]
    local cause, bucket = args[a + 8], args[a + 9]
    if acked[entry] == nil then acked[entry] = redis.call('XACK', keys[1], GROUP, entry) == 1 end
    if acked[entry] and analyzer ~= '' then
      counted = counted + 1
      local key = prefix .. 'in:' .. day
      local names = key .. ':names:' .. analyzer
      ends[key] = tonumber(day_end)
      local c = counts[key] or {}
      counts[key] = c
      if team ~= '' then
        teams[key] = teams[key] or {}
        teams[key]['t|' .. analyzer] = team
      end
      add(c, 'o|' .. analyzer .. '|' .. outcome)
      if bucket ~= '' then add(c, 'd|' .. analyzer .. '|' .. bucket) end
      if cause ~= '' then add(c, 'r|' .. analyzer .. '|' .. cause) end
      if service ~= '' then
        sets[names] = key
        local s = analyzer .. '|' .. within(names, 's', service, cap)
        add(c, 'so|' .. s .. '|' .. outcome)
        if bucket ~= '' then add(c, 'sd|' .. s .. '|' .. bucket) end
        if cause ~= '' then add(c, 'sr|' .. s .. '|' .. cause) end
      end
      if alert ~= '' then
        sets[names] = key
        local l = analyzer .. '|' .. within(names, 'a', alert, cap)
        add(c, 'ao|' .. l .. '|' .. outcome)
        if bucket ~= '' then add(c, 'ad|' .. l .. '|' .. bucket) end
        if cause ~= '' then add(c, 'ar|' .. l .. '|' .. cause) end
      end
    end
  end
  for key, c in pairs(counts) do
    for field, k in pairs(c) do redis.call('HINCRBY', key, field, int(k)) end
    for field, team in pairs(teams[key] or {}) do redis.call('HSET', key, field, team) end
    redis.call('PEXPIREAT', key, int(ends[key] + retention))
  end
  for names, key in pairs(sets) do
    if redis.call('EXISTS', names) == 1 then
      redis.call('PEXPIREAT', names, int(ends[key] + retention))
    end
  end
  return {counted, n}
end

-- KEYS: the analysis' verdicts P.."fb:ID", the export stream P.."fb:log", its status hash
-- P.."a:ID".  ARGV: prefix, id, verdict, root cause ('' when none), note, by, ttl_ms, analyzer
-- (escaped, for the counts), day it finished (YYYYMMDD), the day's end (ms), retention_ms.
-- Records a verdict on a finished analysis: on its list (the latest first), on the export stream,
-- and in the counts of the day it finished, taking back the count of the verdict it replaces;
-- the oldest beyond FB_KEEP leave the list and the stream. The same verdict (verdict, root cause
-- and note) by the same 'by' as the latest is a repeat: nothing is written and the latest is
-- answered, as it was the first time. Returns {seq (the export entry), the verdict as JSON, the
-- verdicts the analysis holds now, 1 when this one was recorded or 0 for a repeat}.
local function feedback(keys, args)
  local prefix, id, verdict, cause, note, by = args[1], args[2], args[3], args[4], args[5], args[6]
  local ttl, analyzer, day = num(args[7], 'ttl'), args[8], args[9]
  local day_end, retention = num(args[10], 'day_end'), num(args[11], 'retention')
  if not VERDICTS[verdict] then fail('EINPUT', 'verdict must be correct, wrong or partly') end
  if cause ~= '' and verdict == 'correct' then
    fail('EINPUT', 'a root cause goes with a wrong or partly verdict: the one it should have been')
  end
  if not string.match(day, '^%d%d%d%d%d%d%d%d$') then fail('EINPUT', 'day must be YYYYMMDD') end
  local h = redis.call('HMGET', keys[3], 'status', 'analyzer', 'team')
  if not h[1] then fail('ENOTFOUND', 'no such analysis (or it has expired)') end
  if h[1] == 'queued' or h[1] == 'running' then
    fail('EUSAGE', 'the analysis has not finished yet (status ' .. h[1] .. '): judge it once done')
  end
  local now = now_ms()
  local prev = redis.call('LINDEX', keys[1], 0)
  local p
  if prev then
    local ok, decoded = pcall(cjson.decode, prev)
    if ok and type(decoded) == 'table' then p = decoded end
  end
  -- A repeat of the latest by the same hand (a double click, a retried POST, a loop) would add
  -- nothing a reader needs and cost an export entry: it is answered as it stands.
  if p and p.by == by and p.verdict == verdict and p.root_cause == cause and p.note == note and
      type(p.seq) == 'string' then
    return {p.seq, prev, redis.call('LLEN', keys[1]), 0}
  end
  if p and type(p.day) == 'string' and VERDICTS[p.verdict] then
    local pkey = prefix .. 'in:' .. p.day
    -- A bucket that expired is not brought back by the decrement.
    if redis.call('EXISTS', pkey) == 1 then
      redis.call('HINCRBY', pkey, 'f|' .. analyzer .. '|' .. p.verdict, -1)
    end
  end
  local seq = redis.call('XADD', keys[2], 'MINID', '~', int(now - ttl), '*', 'analysis', id,
                         'analyzer', h[2] or '', 'team', h[3] or '', 'verdict', verdict,
                         'root_cause', cause, 'note', note, 'by', by)
  local record = cjson.encode({seq = seq, at = int(now), analysis = id, analyzer = h[2] or '',
                               team = h[3] or '', verdict = verdict, root_cause = cause,
                               note = note, by = by, day = day})
  local kept = redis.call('LPUSH', keys[1], record)
  if kept > FB_KEEP then
    for _, old in ipairs(redis.call('LRANGE', keys[1], FB_KEEP, -1)) do
      local ok, o = pcall(cjson.decode, old)
      if ok and type(o) == 'table' and type(o.seq) == 'string' then
        redis.call('XDEL', keys[2], o.seq)
      end
    end
    redis.call('LTRIM', keys[1], 0, FB_KEEP - 1)
    kept = FB_KEEP
  end
  redis.call('PEXPIRE', keys[1], int(ttl))
  local key = prefix .. 'in:' .. day
  redis.call('HINCRBY', key, 'f|' .. analyzer .. '|' .. verdict, 1)
  redis.call('PEXPIREAT', key, int(day_end + retention))
  return {seq, record, kept, 1}
end

-- KEYS: the day buckets P.."in:DAY" to read.  Returns one flat HGETALL per key, in order.
local function read(keys, args)
  local out = {}
  for i, key in ipairs(keys) do out[i] = redis.call('HGETALL', key) end
  return out
end

-- KEYS: results, the mark P.."in:since".  Creates the group 'insights': the first time insights
-- run on this queue (no mark yet) at the stream's start, so that the analyses the stream still
-- holds are counted too; later (the group was removed while insights were off, or the stream
-- went) at its end, so that nothing counted before is counted again. Returns VERSION.
local function init(keys, args)
  local start = redis.call('EXISTS', keys[2]) == 0 and '0' or '$'
  local ok, err = pcall(redis.call, 'XGROUP', 'CREATE', keys[1], GROUP, start, 'MKSTREAM')
  if not ok and not string.find(tostring(err.err or err), 'BUSYGROUP') then error(err) end
  redis.call('SET', keys[2], int(now_ms()), 'NX')
  return VERSION
end

-- KEYS: results.  Removes the group 'insights' (insights turned off): a group nobody reads
-- would keep the results stream from being trimmed.
local function drop(keys, args)
  if redis.call('EXISTS', keys[1]) == 0 then return 0 end
  return redis.call('XGROUP', 'DESTROY', keys[1], GROUP)
end

-- The functions, registered as LIBRARY_NAME (wrap, register: runtime/rt_fnlib_prelude.lua).
register('version', function() return VERSION end, true)
register('init', wrap(init))
register('drop', wrap(drop))
register('fold', wrap(fold))
register('feedback', wrap(feedback))
register('read', wrap(read), true)
