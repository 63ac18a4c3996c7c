#!lua name=inquest
-- runtime/rt_queue.lua -- the queue's Redis 7 function library (DESIGN §6, docs/queue.md): every
-- state change of an analysis is one call of one of these functions, so it is atomic. The C side
-- (runtime/rt_queue.c) embeds this text, loads it as the library inquest_vVERSION, after the
-- prelude every library shares (runtime/rt_fnlib_prelude.lua: wrap, register), when Redis does
-- not have it, builds the keys and parses the replies. Every VERSION's functions have names of
-- their own, inquest_vVERSION_NAME: the arguments and replies of a function change between
-- versions, so during a rolling upgrade each program calls the functions of its own version,
-- side by side on the same keys.
--
-- Conventions. ARGV[1] of every function is the key prefix, "{name}:" (the hash tag keeps every
-- key of a queue in one Cluster slot). The fixed keys of a function and the per-analysis keys the
-- caller knows are passed as KEYS; the keys of analyses a function discovers itself (claim finds
-- them in the streams) are built from the prefix, in the same slot. Times are Unix milliseconds
-- from Redis' own clock (TIME): one clock for every worker. Errors are error replies whose first
-- word is an rt error name ("EINPUT ..."), which the C side maps back.

local VERSION = 23

local GROUP = 'workers'   -- the consumer group of the request streams
local HELD = '~held'      -- the consumer that owns the entries of requests held by a team cap
local PRIORITY = {'interactive', 'alert', 'batch'}
local RANK = {interactive = 1, alert = 2, batch = 3}
local RANK_SPAN = 1e13    -- held scores: rank * RANK_SPAN + submitted_at (ms, < 1e13)
-- What get and list return of a status hash, in this order (rt_queue.c reads it by position).
local FIELDS = {'status', 'analyzer', 'team', 'priority', 'submitted_at', 'started_at',
                'finished_at', 'deliveries', 'labels', 'deadline', 'message', 'consumer', 'cancel',
                'resolved_at'}
-- Arguments per request of submit, values per claimed request of claim.
local REQ, CLAIMED = 9, 9
local TIDY_EVERY = 8      -- a busy claim looks back and trims one time in this many (claim)
local FINAL = {ok = true, error = true, timeout = true, cpu_exceeded = true,
               memory_exceeded = true, cancelled = true, dead = true}

-- Lua numbers passed to redis.call are formatted as floats ("%.17g"), which costs more than the
-- command itself for small ones: hot paths pass text, made once per call or taken from ARGV.
-- The library's body may not use the string library while it loads: the tables are made by the
-- first call.
local PAD3, SMALL         -- 0 .. 999 as three digits; 0 .. 99 as text (deliveries)

-- Redis' clock in ms, as a number and as text (the text is built from TIME's, not formatted),
-- then in µs, as a number.
local function now_ms()
  if not PAD3 then
    PAD3, SMALL = {}, {}
    for i = 0, 999 do PAD3[i] = string.format('%03d', i) end
    for i = 0, 99 do SMALL[i] = tostring(i) end
  end
  local t = redis.call('TIME')
  local us = tonumber(t[2])
  local ms = math.floor(us / 1000)
  return tonumber(t[1]) * 1000 + ms, t[1] .. PAD3[ms], tonumber(t[1]) * 1000000 + us
end

-- Raises an error reply "CODE message" (wrap() turns it into one); level 0: no position.
local function fail(code, msg)
  error(code .. ' ' .. msg, 0)
end

local function num(s, what)
  local v = tonumber(s)
  if not v then fail('EINPUT', what .. ' is not a number') end
  return v
end

-- A whole number as text: Lua 5.1 prints numbers with 14 significant digits, too few for
-- millisecond times scaled by 1000.
local function int(x)
  return string.format('%d', x)
end

-- Adds 'n' to counter 'name' of a call's batch of counter updates.
local function count(batch, name, n)
  batch[name] = (batch[name] or 0) + (n or 1)
end

-- Applies a batch of counter updates to hash 'key' (one HINCRBY per name, not per item).
local function flush_counts(key, batch)
  for name, n in pairs(batch) do
    if n ~= 0 then redis.call('HINCRBY', key, name, int(n)) end
  end
end

-- Stream ids "ms-seq" compared as numbers.
local function id_less(a, b)
  local am, as = string.match(a, '^(%d+)-(%d+)$')
  local bm, bs = string.match(b, '^(%d+)-(%d+)$')
  am, bm = tonumber(am), tonumber(bm)
  if am ~= bm then return am < bm end
  return tonumber(as) < tonumber(bs)
end

local function id_next(a)
  local m, s = string.match(a, '^(%d+)-(%d+)$')
  return m .. '-' .. int(tonumber(s) + 1)
end

-- The entry named 'field' of a flat name, value reply (XINFO).
local function field_of(flat, field)
  for i = 1, #flat, 2 do
    if flat[i] == field then return flat[i + 1] end
  end
  return nil
end

-- The group GROUP of request stream 'stream' as XINFO GROUPS tells it, or nil.
local function workers_group(stream)
  local groups = redis.pcall('XINFO', 'GROUPS', stream)
  if type(groups) ~= 'table' or groups.err then return nil end
  for _, g in ipairs(groups) do
    if field_of(g, 'name') == GROUP then return g end
  end
  return nil
end

-- Creates the group of 'stream' (and the stream) unless it exists.
local function ensure_group(stream)
  local ok = redis.pcall('XGROUP', 'CREATE', stream, GROUP, '0', 'MKSTREAM')
  if type(ok) == 'table' and ok.err and not string.find(ok.err, 'BUSYGROUP', 1, true) then
    error(ok.err)
  end
end

-- Trims 'stream' once it is longer than 'maxlen', never below what a consumer group still needs:
-- its oldest pending entry, and anything after its last delivered one. Without groups, a plain
-- approximate MAXLEN trim.
local function trim_stream(stream, maxlen)
  if maxlen <= 0 or redis.call('XLEN', stream) <= maxlen then return end
  local groups = redis.call('XINFO', 'GROUPS', stream)
  if #groups == 0 then
    redis.call('XTRIM', stream, 'MAXLEN', '~', maxlen)
    return
  end
  local floor
  for _, g in ipairs(groups) do
    local name, last
    for i = 1, #g, 2 do
      if g[i] == 'name' then name = g[i + 1] elseif g[i] == 'last-delivered-id' then last = g[i + 1] end
    end
    local keep = id_next(last)
    local pend = redis.call('XPENDING', stream, name)
    if pend[1] > 0 and id_less(pend[2], keep) then keep = pend[2] end
    if not floor or id_less(keep, floor) then floor = keep end
  end
  redis.call('XTRIM', stream, 'MINID', '~', floor)
end

-- ---- shared steps ----------------------------------------------------------------------------

-- The leases' sorted set holds every running analysis and the claims on their way: about a
-- hundred or more under load, where Redis keeps a set of up to 128 members as one listpack and
-- scans all of it for each member added (for the member, then for its place): that scan was the
-- costliest command of a claim. A member longer than zset-max-listpack-value (64 bytes) makes
-- Redis keep the set as a skiplist, whose adds and removals take a lookup: every ZADD of leases
-- names this one first, with score +inf, so that the set is a skiplist from its creation. No
-- lease ever expires at +inf, and the running count leaves it out.
local LEASE_KEEPER = '~ keeps this set a skiplist: longer than zset-max-listpack-value (64 bytes) ~'

-- Redis' cost is per command, so a call gathers what it can do for many analyses at once (acks,
-- deletions, lease changes, counters) in its context and flushes them in one command each.

-- The context of one call: prefix, clock, the fixed keys by name, and the batched writes.
local function ctx_new(prefix, now, nows, now_us)
  return {
    prefix = prefix, now = now, nows = nows, now_us = now_us,
    streams = {prefix .. 'q:interactive', prefix .. 'q:alert', prefix .. 'q:batch'},
    leases = prefix .. 'leases', running = prefix .. 'running', stats = prefix .. 'stats',
    results = prefix .. 'results', dead = prefix .. 'dead', held_teams = prefix .. 'held',
    held_deadlines = prefix .. 'held-deadlines',
    acks = {{}, {}, {}},   -- per stream: entries to XACK and XDEL
    lease_set = {'+inf', LEASE_KEEPER}, -- score, id, ... for one ZADD
    lease_drop = {},       -- ids for one ZREM
    team_delta = {},       -- team -> change of its running count
    team_running = {},     -- team -> running count in Redis when the call read it
    counts = {},           -- stats counter -> increment
    published = {},        -- lines of the results stream's entry (publish)
    tidy = true,           -- trim the results stream (flush)
    delete_entries = false, -- XDEL the acknowledged entries: some may not have been delivered
  }
end

local function status_key(c, id) return c.prefix .. 'a:' .. id end
local function held_key(c, team) return c.prefix .. 'held:' .. team end

-- Applies 'cmd' to 'key' with the arguments in 'list', in slices (Lua's unpack has a limit).
local function call_list(cmd, key, extra, list)
  for i = 1, #list, 2000 do
    local slice = {}
    for j = i, math.min(i + 1999, #list) do slice[#slice + 1] = list[j] end
    if extra then redis.call(cmd, key, extra, unpack(slice)) else redis.call(cmd, key, unpack(slice)) end
  end
end

-- The running count of 'team' as this call sees it: Redis' count, read once and only when a cap
-- asks (most teams have none), plus what the call changed so far.
local function running_of(c, team)
  local n = c.team_running[team]
  if not n then
    n = tonumber(redis.call('HGET', c.running, team)) or 0
    c.team_running[team] = n
  end
  return n + (c.team_delta[team] or 0)
end

-- Acknowledged entries a request stream may keep past its oldest pending entry before a call
-- deletes its own instead (XDEL): bounds what one long-running or held request keeps alive.
local LEFTOVERS_MAX = 10000

-- Acknowledges 'eids' of 'stream' (their analyses became final) and removes what is finished.
-- XDEL costs Redis a walk of the entry's stream node per entry; instead the stream is trimmed
-- below its oldest pending entry (XTRIM MINID ~: whole stream nodes, so up to a node of
-- acknowledged entries stays), or exactly past the last delivered one when none is pending
-- (an idle queue keeps nothing): every entry below that was delivered and acknowledged, so it
-- is final. Entries not yet delivered or still pending are never trimmed. When the acknowledged
-- entries kept behind the oldest pending one would exceed LEFTOVERS_MAX (a request held by a
-- team cap or a long analysis), or when some entries may never have been delivered ('delete'),
-- the call deletes its entries one by one (XDEL).
local function drop_entries(stream, eids, delete)
  call_list('XACK', stream, GROUP, eids)
  if delete then
    call_list('XDEL', stream, nil, eids)
    return
  end
  local pend = redis.call('XPENDING', stream, GROUP)
  if pend[1] == 0 then
    local g = workers_group(stream)
    local last = g and field_of(g, 'last-delivered-id')
    if last then redis.call('XTRIM', stream, 'MINID', id_next(last)) end
    return
  end
  local rest = redis.call('XLEN', stream) - pend[1] -- not delivered, or acknowledged leftovers
  if rest > LEFTOVERS_MAX then
    local g = workers_group(stream)
    local lag = g and field_of(g, 'lag')
    if type(lag) ~= 'number' or rest - lag > LEFTOVERS_MAX then
      call_list('XDEL', stream, nil, eids)
      return
    end
  end
  redis.call('XTRIM', stream, 'MINID', '~', pend[2])
end

-- The writes gathered by a call, one command each; publishes what became final as one entry of
-- the results stream and trims it, unless the call is a busy claim that leaves tidying to
-- another (claim).
local function flush(c, results_maxlen)
  for rank = 1, 3 do
    local eids = c.acks[rank]
    if #eids > 0 then drop_entries(c.streams[rank], eids, c.delete_entries) end
  end
  if #c.lease_drop > 0 then call_list('ZREM', c.leases, nil, c.lease_drop) end
  if #c.lease_set > 2 then call_list('ZADD', c.leases, nil, c.lease_set) end
  flush_counts(c.running, c.team_delta)
  flush_counts(c.stats, c.counts)
  if #c.published > 0 then
    redis.call('XADD', c.results, '*', 'analyses', table.concat(c.published, '\n'))
    if c.tidy then trim_stream(c.results, results_maxlen) end
  end
end

-- Announces that 'id' ended with 'status', 'submitted_at' (ms) being when it was submitted: its
-- line of the call's results entry (flush) carries how long it took, for the server's duration
-- histogram. One entry per call, a line per analysis, "id status ms analyzer", not an entry per
-- analysis: an XADD, its stream node and its line in the AOF cost Redis about 22,000
-- instructions per analysis in rounds of 32, a tenth of its cost of a round (docs/queue.md).
local function publish(c, id, analyzer, status, submitted_at)
  local ms = submitted_at and submitted_at > 0 and int(c.now - submitted_at) or '0'
  local lines = c.published
  lines[#lines + 1] = id .. ' ' .. status .. ' ' .. ms .. ' ' .. (analyzer or '')
end

-- Ends an analysis that will not (or not again) run: 'status' with 'message'. 'h' is its state
-- (hget_state); 'was_running' says whether it held a lease and a place in its team's count.
-- Only now does its status hash get a TTL: while it is queued or running, it lives as long as
-- its request.
local function finish(c, id, h, status, message, was_running, ttl)
  local skey = status_key(c, id)
  redis.call('HSET', skey, 'status', status, 'finished_at', c.nows, 'message', message, 'held', '')
  redis.call('PEXPIRE', skey, ttl)
  if h.eid and h.eid ~= '' then
    local list = c.acks[RANK[h.priority] or 3]
    list[#list + 1] = h.eid
  end
  if was_running then
    c.lease_drop[#c.lease_drop + 1] = id
    count(c.team_delta, h.team, -1)
  end
  count(c.counts, 'completed:' .. status)
  publish(c, id, h.analyzer, status, h.submitted_at)
end

-- Moves a request to the dead-letter stream with its 'reason'; it stays visible as "dead".
local function bury(c, id, h, reason, ttl, dead_maxlen)
  local stream = c.streams[RANK[h.priority] or 3]
  local e = redis.call('XRANGE', stream, h.eid, h.eid)
  local inputs = (e[1] and e[1][2][8]) or ''
  redis.call('XADD', c.dead, 'MAXLEN', '~', dead_maxlen, '*', 'id', id, 'analyzer', h.analyzer,
             'team', h.team, 'priority', h.priority, 'inputs', inputs, 'reason', reason,
             'deliveries', h.deliveries, 'at', c.now)
  count(c.counts, 'dead')
  finish(c, id, h, 'dead', reason, true, ttl)
end

-- Hands request 'id' to 'consumer': status running, a lease until now + lease_ms. 'entry' is its
-- stream entry {eid, fields}, fields in the order submit writes them: id, analyzer, team, inputs,
-- deadline, and record when its recording is asked for. 'new_run' counts it in its team's running count (a reclaim is counted already).
-- 'lease_until' is the lease's expiry as text.
local function deliver(c, out, consumer, id, entry, rank, deliveries, lease_until, new_run)
  local f = entry[2]
  redis.call('HSET', status_key(c, id), 'status', 'running', 'consumer', consumer,
             'started_at', c.nows, 'deliveries', SMALL[deliveries] or int(deliveries))
  local ls = c.lease_set
  ls[#ls + 1], ls[#ls + 2] = lease_until, id
  if new_run then count(c.team_delta, f[6], 1) end
  local n = #out
  out[n + 1], out[n + 2], out[n + 3], out[n + 4] = id, entry[1], f[4], f[8]
  out[n + 5], out[n + 6], out[n + 7], out[n + 8] = f[10], deliveries, rank - 1, f[6]
  out[n + 9] = f[12] or '0'
end

local function hget_state(skey)
  local v = redis.call('HMGET', skey, 'status', 'priority', 'eid', 'team', 'analyzer',
                       'deliveries', 'cancel', 'deadline', 'consumer', 'submitted_at')
  return {status = v[1], priority = v[2], eid = v[3], team = v[4], analyzer = v[5],
          deliveries = tonumber(v[6]) or 0, cancel = v[7], deadline = tonumber(v[8]) or 0,
          consumer = v[9], submitted_at = tonumber(v[10]) or 0}
end

-- ---- submit ----------------------------------------------------------------------------------

-- The id an earlier request with the same dedup key got within the window, unless that analysis
-- was cancelled, went dead, expired or timed out before it started (it never ran: an alert that
-- fires again after a backlog must get an analysis that runs): then the new request 'id' runs,
-- and the key names it for 'window' ms (text). One SET ... NX GET when the key is free, which is
-- the common case.
local function deduplicated(c, dkey, id, window)
  local existing = redis.call('SET', dkey, id, 'NX', 'GET', 'PX', window)
  if not existing then return nil end
  local v = redis.call('HMGET', status_key(c, existing), 'status', 'started_at')
  local st, never_ran = v[1], not v[2] or v[2] == ''
  if st and st ~= 'cancelled' and st ~= 'dead' and not (st == 'timeout' and never_ran) then
    return existing
  end
  redis.call('SET', dkey, id, 'PX', window)
  return nil
end

-- KEYS: the listing's index, then per request its status key and its dedup key.
-- ARGV: prefix, ttl_ms, recent_ms, n, then per request: id, analyzer, team, priority, inputs,
--       labels, window_ms, deadline_ms, record ("1": keep its recording, else "0"): REQ each.
-- Returns per request: id, 1 when it is an earlier request's id (deduplicated) else 0.
-- Wakes idle workers, which wait on the wake list with BLMPOP (rt_queue_wait_for_work): one token
-- per new request, up to WAKE_TOKENS, so that one request wakes one worker and a batch several (a
-- worker takes two tokens at most, to tell one request from more).
-- The list is capped, and a claim that finds nothing deletes it: tokens nobody took (every worker
-- was busy) cost at most one claim that finds nothing.
local WAKE_TOKENS = 64
local hand_to_idle -- claims for idle workers: with the claim, below
local function wake(c, n)
  local key, tokens = c.prefix .. 'wake', {}
  for i = 1, math.min(n, WAKE_TOKENS) do tokens[i] = '1' end
  redis.call('LPUSH', key, unpack(tokens))
  redis.call('LTRIM', key, 0, WAKE_TOKENS * 4 - 1)
end

-- The status hash of a new request. Labels and a deadline are written only when it has them:
-- absent, they read as none ('' and 0, to every reader), and each field fewer makes the hash's
-- later HSETs and HMGETs cheaper (a listpack, searched field by field) and the AOF shorter.
local function new_status(skey, analyzer, team, prio, nows, labels, deadline, eid)
  local f = {'status', 'queued', 'analyzer', analyzer, 'team', team, 'priority', prio,
             'submitted_at', nows, 'eid', eid}
  if labels ~= '' and labels ~= '{}' then f[#f + 1], f[#f + 2] = 'labels', labels end
  if deadline ~= '0' then f[#f + 1], f[#f + 2] = 'deadline', deadline end
  redis.call('HSET', skey, unpack(f))
end

-- The listing's index is a stream with one entry per call: the ids it queued, in order, as one
-- value ("id id ..."), under an entry id whose time is the call's (submitted_at), unless Redis'
-- clock stepped back below the stream's last entry (then '*': the stream's own next id). An entry
-- per call, not a member per analysis: a sorted set's insert (a skiplist node and a dict entry,
-- 100 bytes or more) was the largest single cost of a submission. Trimmed by time on each submit,
-- exactly, so the listing holds 'recent_ms' of submissions and no more. Ids come from the caller
-- (rt_queue_new_id: a counter per process from a random start), so the status keys can be
-- declared.
local function index_submitted(c, key, ids, recent_ms)
  local cutoff, text = int(c.now - recent_ms), table.concat(ids, ' ')
  local r = redis.pcall('XADD', key, 'MINID', cutoff, c.nows .. '-*', 'ids', text)
  if type(r) == 'table' and r.err then
    redis.call('XADD', key, 'MINID', cutoff, '*', 'ids', text)
  end
end

-- Window and deadline are whole numbers of ms as text (rt_queue.c writes them so): checked as
-- numbers, passed on as the text. 'deliveries' is not written: absent reads as 0.
local function submit(keys, args)
  local c = ctx_new(args[1], now_ms())
  local recent_ms, n = num(args[3], 'recent'), num(args[4], 'n')
  if n > 1000 then fail('EINPUT', 'at most 1000 requests per call') end
  local windows = {}
  for i = 0, n - 1 do -- check everything before writing anything: errors do not roll back
    local prio = args[8 + i * REQ]
    if not RANK[prio] then fail('EINPUT', 'priority "' .. tostring(prio) .. '" is not interactive, alert or batch') end
    windows[i] = num(args[11 + i * REQ], 'window') > 0
    num(args[12 + i * REQ], 'deadline')
  end
  local out, queued, streams, nows = {}, {}, c.streams, c.nows
  local added, dups = 0, 0
  for i = 0, n - 1 do
    local a = 5 + i * REQ
    local id, analyzer, team, prio = args[a], args[a + 1], args[a + 2], args[a + 3]
    local deadline = args[a + 7]
    local skey = keys[2 + i * 2]
    local existing = windows[i] and deduplicated(c, keys[3 + i * 2], id, args[a + 6])
    if existing then
      dups = dups + 1
      out[#out + 1], out[#out + 2] = existing, 1
    else
      local eid
      if args[a + 8] == '1' then
        eid = redis.call('XADD', streams[RANK[prio]], '*', 'id', id, 'analyzer', analyzer,
                         'team', team, 'inputs', args[a + 4], 'deadline', deadline, 'record', '1')
      else
        eid = redis.call('XADD', streams[RANK[prio]], '*', 'id', id, 'analyzer', analyzer,
                         'team', team, 'inputs', args[a + 4], 'deadline', deadline)
      end
      new_status(skey, analyzer, team, prio, nows, args[a + 5], deadline, eid)
      added = added + 1
      queued[#queued + 1] = id
      out[#out + 1], out[#out + 2] = id, 0
    end
  end
  if dups > 0 then count(c.counts, 'deduplicated', dups) end
  if added > 0 then
    count(c.counts, 'submitted', added)
    index_submitted(c, keys[1], queued, recent_ms)
    local handed = hand_to_idle(c, added, args[2])
    if handed < added then wake(c, added - handed) end
  end
  flush(c, 0)
  return out
end

-- ---- restarts --------------------------------------------------------------------------------
--
-- Design notes. Leases expire by Redis' clock, which goes on while Redis is down: after a
-- restart every lease whose worker could not renew it during the outage has expired, though its
-- worker may be alive, with results, on its way back. Workers reconnect each on its own jittered
-- backoff (rt_redis.c, at most 'reconnect' ms), so the first one back would take over the leases
-- of the others, run their analyses a second time and have the others' results refused.
-- So init, which every client runs on each new connection before any other call, notes the
-- Redis process in {P}redis (INFO's run_id) and, when it is a new one (a restart, a failover to a
-- replica), since when ('since', ms). For a lease and a reconnection after that, a claim takes
-- over no other consumer's lease (reclaim): time for every live worker to reconnect and renew its
-- leases (extend renews an expired lease that nobody took over). A worker that died does not
-- come back, and its leases are taken over once that time is over.
-- Why this: a grace on every reclaim, counted from a lease's expiry, helps only if it is longer
-- than the outage (the leases expired while Redis was down), and it would delay every take-over
-- of a dead worker when Redis never went away; a worker that renews all it runs the moment it is
-- back (ig_cmd_worker.c does) cannot keep the leases of the workers still on their way. Not
-- covered: an outage with no new Redis process (every worker cut off from a Redis that stayed
-- up, or a Redis stalled past the clients' timeouts): Redis cannot tell that from dead workers,
-- and their leases are taken over as before (still with one result per analysis).

-- Notes which Redis process runs the queue and, when it replaced another one, since when. The
-- first one noted gets no 'since': no outage was seen.
local function note_server(prefix)
  local info = redis.pcall('INFO', 'server')
  local run = type(info) == 'string' and string.match(info, 'run_id:(%x+)')
  if not run then return end -- INFO refused (some managed Redis do): restarts go unnoticed
  local key = prefix .. 'redis'
  local known = redis.call('HGET', key, 'run_id')
  if known == run then return end
  if known then
    local _, nows = now_ms()
    redis.call('HSET', key, 'run_id', run, 'since', nows)
  else
    redis.call('HSET', key, 'run_id', run)
  end
end

-- True while other consumers' leases are left to them after a restart: for p.lease and
-- p.reconnect ms from when the queue first saw this Redis process replace another.
local function just_restarted(c, p)
  local since = tonumber(redis.call('HGET', c.prefix .. 'redis', 'since'))
  return since ~= nil and c.now < since + p.lease + p.reconnect
end

-- ---- claim -----------------------------------------------------------------------------------

local function has_room(c, p, team)
  local cap = p.caps[team] or p.default_cap
  return cap <= 0 or running_of(c, team) < cap
end

-- How many more of 'team' may run now (a large number when it has no cap).
local function room_of(c, p, team)
  local cap = p.caps[team] or p.default_cap
  if cap <= 0 then return 1e9 end
  return cap - running_of(c, team)
end

-- Step 1: leases that expired are taken over, ended (cancelled, past deadline) or buried. A
-- lease of the claiming consumer itself (its renewals failed while Redis was out of reach, or
-- the answer of the claim that gave it was lost) is handed back to it as it is: not another
-- delivery, which would bring the analysis closer to the dead-letter stream while it runs.
-- Other consumers' leases are left alone just after a restart (restarts, above).
local function reclaim(c, p, out)
  local ids = redis.call('ZRANGE', c.leases, '-inf', c.nows, 'BYSCORE', 'LIMIT', '0', p.maxs)
  local restarted = #ids > 0 and just_restarted(c, p)
  for _, id in ipairs(ids) do
    local h = hget_state(status_key(c, id))
    local own = h.consumer == p.consumer
    if h.status ~= 'running' then
      c.lease_drop[#c.lease_drop + 1] = id -- stale: it ended meanwhile
    elseif restarted and not own then
      -- its worker may be reconnecting still
    elseif h.cancel == '1' then
      finish(c, id, h, 'cancelled', 'cancelled; its worker stopped extending the lease', true, p.ttl)
    elseif h.deadline > 0 and c.now > h.deadline then
      finish(c, id, h, 'timeout', 'the deadline passed while its worker was not heard from', true, p.ttl)
    elseif h.deliveries >= p.max_deliveries and not own then
      bury(c, id, h, 'lease expired after ' .. h.deliveries .. ' deliveries (last consumer ' ..
           (h.consumer or '?') .. ')', p.ttl, p.dead_maxlen)
    else
      local rank = RANK[h.priority] or 3
      local e = redis.call('XCLAIM', c.streams[rank], GROUP, p.consumer, 0, h.eid)
      if not e[1] then
        bury(c, id, h, 'its request entry is missing from the stream', p.ttl, p.dead_maxlen)
      else
        if not own then count(c.counts, 'reclaims') end
        deliver(c, out, p.consumer, id, e[1], rank, h.deliveries + (own and 0 or 1), p.lease_until,
                false)
      end
    end
    if #out >= p.max * CLAIMED then return end
  end
end

-- Holds a request whose team is at its cap: the entry stays in the stream, pending under the
-- HELD consumer (so no trim or consumer clean-up can lose it), and the id waits in its team's
-- held set, scored by priority then submission, until a claim finds room for it.
local function hold(c, id, team, eid, rank, submitted_at, deadline)
  redis.call('XCLAIM', c.streams[rank], GROUP, HELD, 0, eid, 'JUSTID')
  redis.call('ZADD', held_key(c, team), int(rank * RANK_SPAN + submitted_at), id)
  redis.call('SADD', c.held_teams, team)
  redis.call('HSET', status_key(c, id), 'held', '1')
  if deadline > 0 then redis.call('ZADD', c.held_deadlines, int(deadline), id) end
end

-- Step 1b: held requests whose deadline passed end as timeout, whether their team has room or
-- not: a cap must not keep a request past its deadline.
local function expire_held(c, p)
  local ids = redis.call('ZRANGE', c.held_deadlines, '-inf', c.nows, 'BYSCORE', 'LIMIT', '0', '100')
  for _, id in ipairs(ids) do
    local h = hget_state(status_key(c, id))
    if h.status == 'queued' then
      redis.call('ZREM', held_key(c, h.team), id)
      finish(c, id, h, 'timeout', 'the deadline passed while its team was at its cap', false, p.ttl)
    end
  end
  if #ids > 0 then call_list('ZREM', c.held_deadlines, nil, ids) end
end

-- A new entry of stream 'rank': runs, is held (team at its cap) or ends (deadline passed).
-- Entries of cancelled or finished analyses are deleted from the streams when they end, so a
-- new entry is always of a queued analysis, delivered for the first time.
local function admit_new(c, p, out, entry, rank)
  local f = entry[2]
  local id, team, deadline = f[2], f[6], tonumber(f[10]) or 0
  if deadline > 0 and c.now > deadline then
    local h = hget_state(status_key(c, id))
    finish(c, id, h, 'timeout', 'the deadline passed before the analysis started', false, p.ttl)
  elseif not has_room(c, p, team) then
    local at = tonumber(redis.call('HGET', status_key(c, id), 'submitted_at')) or 0
    hold(c, id, team, entry[1], rank, at, deadline)
  else
    deliver(c, out, p.consumer, id, entry, rank, 1, p.lease_until, true)
  end
end

-- Step 2a: requests of priority 'rank' held by their team's cap, for teams with room now.
local function take_held(c, p, out, rank, teams)
  for _, team in ipairs(teams) do
    local want = math.min(p.max - #out / CLAIMED, room_of(c, p, team))
    if want > 0 then
      local hkey = held_key(c, team)
      local ids = redis.call('ZRANGE', hkey, int(rank * RANK_SPAN), int((rank + 1) * RANK_SPAN - 1),
                             'BYSCORE', 'LIMIT', 0, want)
      for _, id in ipairs(ids) do
        redis.call('ZREM', hkey, id)
        local h = hget_state(status_key(c, id))
        if h.deadline > 0 then redis.call('ZREM', c.held_deadlines, id) end
        local e = h.eid and redis.call('XCLAIM', c.streams[rank], GROUP, p.consumer, 0, h.eid)
        if h.status ~= 'queued' or not (e and e[1]) then
          -- its status or entry is gone: nothing left to run
        elseif h.deadline > 0 and c.now > h.deadline then
          finish(c, id, h, 'timeout', 'the deadline passed before the analysis started', false, p.ttl)
        else
          redis.call('HSET', status_key(c, id), 'held', '')
          deliver(c, out, p.consumer, id, e[1], rank, h.deliveries + 1, p.lease_until, true)
        end
      end
      if redis.call('ZCARD', hkey) == 0 then redis.call('SREM', c.held_teams, team) end
    end
  end
end

-- Step 2b: new requests from the stream of priority 'rank'. Returns true when it read the stream
-- to its end.
local function read_stream(c, p, out, rank)
  local stream = c.streams[rank]
  for _ = 1, 8 do -- bounded: held and ended entries do not count, so read again
    local want = p.max - #out / CLAIMED
    if want <= 0 then return false end
    local r = redis.pcall('XREADGROUP', 'GROUP', GROUP, p.consumer, 'COUNT',
                          want == p.max and p.maxs or int(want), 'STREAMS', stream, '>')
    if type(r) == 'table' and r.err then
      if not string.find(r.err, 'NOGROUP', 1, true) then error(r.err) end
      ensure_group(stream)
      r = false
    end
    if not r or not r[1] then return true end
    local entries = r[1][2]
    for _, e in ipairs(entries) do admit_new(c, p, out, e, rank) end
    if #entries < want then return true end
  end
  return false
end

-- ---- hand-offs to idle workers ---------------------------------------------------------------
--
-- Design notes. An idle worker waits for a submission (rt_queue_wait_for_work), then claims:
-- after the submission, a round trip to the worker and one back to Redis before the analysis
-- starts. A worker whose claim leaves it idle is registered instead ({P}idle: consumer ->
-- "until_ms lease_ms want", by the claim), and a submission claims for it as its own claim would
-- (read_stream: lease, status running, its entry pending under the consumer) and pushes what it
-- claimed to the consumer's inbox ({P}inbox:CONSUMER, one element per submission: the claimed
-- values as a JSON array), which the worker's wait takes (BLMPOP on the inbox, then the wake
-- tokens). A registration is used once, and ends with the worker's next claim, which also takes
-- what its inbox holds (a submission came between its wait's end and the claim), and at 'until':
-- a worker that died while registered leaves leases that expire, as any. The inbox expires after
-- a lease. Under load no worker is idle, and submissions find none (one HGETALL of an empty hash).

-- Claims up to 'n' requests for idle workers; returns how many it handed out. 'ttl' (ms, text)
-- is the status' TTL of a request that ends as it is read (its deadline passed).
hand_to_idle = function(c, n, ttl)
  local key = c.prefix .. 'idle'
  local idle = redis.call('HGETALL', key)
  if #idle == 0 then return 0 end
  local handed, used = 0, {}
  for i = 1, #idle, 2 do
    if handed >= n then break end
    local consumer = idle[i]
    local until_ms, lease, want = string.match(idle[i + 1], '^(%d+) (%d+) (%d+)$')
    if not until_ms or tonumber(until_ms) <= c.now then
      used[#used + 1] = consumer -- lapsed
    else
      local max = math.min(tonumber(want), n - handed)
      local p = {consumer = consumer, max = max, maxs = int(max), caps = {}, default_cap = 0,
                 ttl = ttl, lease_until = int(c.now + tonumber(lease))}
      local out = {}
      for rank = 1, 3 do read_stream(c, p, out, rank) end
      if #out > 0 then
        used[#used + 1] = consumer
        local inbox = c.prefix .. 'inbox:' .. consumer
        -- When they left the queue: now, not when the submission began, which wrote them first.
        -- As text: cjson writes 14 digits of a number.
        table.insert(out, 1, int(select(3, now_ms())))
        redis.call('RPUSH', inbox, cjson.encode(out))
        redis.call('PEXPIRE', inbox, lease)
        handed = handed + (#out - 1) / CLAIMED
      end
    end
  end
  call_list('HDEL', key, nil, used)
  return handed
end

-- Ends the registration of 'consumer' and, when 'take', returns what submissions claimed for it
-- and its wait did not take, as its inbox holds it, and how many requests that is (a round that
-- only stores results leaves them for the next). An empty element hands nothing (claim).
local function take_handed(c, consumer, take)
  redis.call('HDEL', c.prefix .. 'idle', consumer)
  local handed = take and redis.call('LPOP', c.prefix .. 'inbox:' .. consumer, 100) or {}
  local n = 0
  for _, text in ipairs(handed) do n = n + math.max(0, #cjson.decode(text) - 1) / CLAIMED end
  return handed, n
end

-- ---- complete and claim ----------------------------------------------------------------------

-- Stores the 'n' results a worker sends, ARGV from index 'a0' (id, status, result, recording
-- each: '' when none), KEYS from 'k0' (status key, result key each). The first result wins: a verdict per item goes to
-- 'out', 0 accepted, 1 refused: the lease is another worker's, 2 refused: it has ended already,
-- 3 refused: no such analysis (expired). The result is a string key of its own with the status
-- hash's TTL: a value over hash-max-listpack-value (64 bytes) in the hash would turn it into a
-- hash table, several times larger, slower to write and to rewrite in the AOF. A recording is
-- kept ({P}rec:ID, for 'rec_ttl' ms) only with an accepted result, so a case made of an analysis
-- pairs its result with the run that made it; its key is built here, not declared: recordings
-- are rare, and it shares the hash tag.
local function complete_items(c, keys, k0, args, a0, n, consumer, ttl, rec_ttl, out)
  for i = 0, n - 1 do -- check everything before writing anything: errors do not roll back
    local status = args[a0 + 1 + i * 4]
    if not FINAL[status] or status == 'dead' then
      fail('EINPUT', 'status "' .. tostring(status) .. '" is not the status of a result')
    end
  end
  local nows, acks, lease_drop = c.nows, c.acks, c.lease_drop
  local done, refused = {}, 0 -- status -> accepted with it
  for i = 0, n - 1 do
    local a, k = a0 + i * 4, k0 + i * 2
    local id, status, skey = args[a], args[a + 1], keys[k]
    local v = redis.call('HMGET', skey, 'status', 'consumer', 'priority', 'eid', 'team', 'analyzer',
                         'submitted_at')
    local verdict = 0
    if not v[1] then verdict = 3
    elseif FINAL[v[1]] then verdict = 2
    elseif v[1] ~= 'running' or v[2] ~= consumer then verdict = 1 end
    if verdict == 0 then
      redis.call('HSET', skey, 'status', status, 'finished_at', nows)
      redis.call('PEXPIRE', skey, ttl)
      redis.call('SET', keys[k + 1], args[a + 2], 'PX', ttl)
      if args[a + 3] ~= '' then
        redis.call('SET', c.prefix .. 'rec:' .. id, args[a + 3], 'PX', rec_ttl)
        count(c.counts, 'recordings:kept')
      end
      local list = acks[RANK[v[3]] or 3]
      list[#list + 1] = v[4]
      lease_drop[#lease_drop + 1] = id
      count(c.team_delta, v[5], -1) -- before the claim below looks at its team's room
      done[status] = (done[status] or 0) + 1
      publish(c, id, v[6], status, tonumber(v[7]))
    else
      refused = refused + 1
    end
    out[#out + 1] = verdict
  end
  for status, k in pairs(done) do count(c.counts, 'completed:' .. status, k) end
  if refused > 0 then count(c.counts, 'duplicates', refused) end
end

-- Step 1 of a claim: takes over expired leases; returns the teams with held requests, after
-- ending those whose deadline passed.
local function look_back(c, p, out)
  reclaim(c, p, out)
  local teams = redis.call('SMEMBERS', c.held_teams)
  if #teams > 0 then expire_held(c, p) end
  return teams
end

-- A worker's one call per round: it stores the results it has, then claims up to 'max' requests
-- (0: none) for the slots they freed. One call instead of two halves Redis' fixed cost per
-- round (the call, the clock, the flush of acks, leases and counters) and the round trips.
-- KEYS: the three request streams, leases, running, stats, results, dead, held (every fixed
--       key a claim may touch; per-analysis keys are found in the streams), then per result its
--       status key and its result key.
-- ARGV: prefix, consumer, max, lease_ms, reconnect_ms (the longest a worker takes to reconnect:
--       its Redis client's backoff), max_deliveries, ttl_ms, results_maxlen, dead_maxlen,
--       default_cap, n_caps, then n_caps pairs team, cap, then the recordings' ttl_ms, handoff_ms
--       (how long the worker waits for work when this claim finds at most one request; 0: it
--       does not wait), n_results, then per result: id, status, result, recording ('' none).
-- Returns a verdict per result (complete_items), then when the claim ran (Redis' clock, µs:
-- workers time from it how long a request waits between leaving the queue and its start), then
-- how many elements of the consumer's inbox follow (what submissions claimed for it while it
-- waited and it did not take: hand_to_idle) and those, then CLAIMED values per claimed request:
-- id, entry id, analyzer, inputs, deadline_ms, deliveries, priority rank (0 interactive .. 2
-- batch), team, record ('1': its submitter asked for its recording, else '0').
local function claim(keys, args)
  local c = ctx_new(args[1], now_ms())
  local p = {consumer = args[2], max = num(args[3], 'max'), maxs = args[3],
             lease = num(args[4], 'lease'), reconnect = num(args[5], 'reconnect'),
             max_deliveries = num(args[6], 'max_deliveries'), ttl = args[7],
             dead_maxlen = num(args[9], 'dead_maxlen'), default_cap = num(args[10], 'default_cap'),
             caps = {}}
  num(args[7], 'ttl')
  local results_maxlen = num(args[8], 'results_maxlen') -- checked before anything is written
  local n_caps = num(args[11], 'n_caps')
  for i = 1, n_caps do
    p.caps[args[10 + i * 2]] = num(args[11 + i * 2], 'cap')
  end
  local a0 = 15 + n_caps * 2
  local verdicts, rec_ttl, handoff_ms = {}, args[a0 - 3], num(args[a0 - 2], 'handoff')
  local n_results = num(args[a0 - 1], 'n_results')
  num(rec_ttl, 'recording ttl')
  complete_items(c, keys, 10, args, a0, n_results, p.consumer, p.ttl, rec_ttl, verdicts)
  local handed, n_handed = take_handed(c, p.consumer, p.max > 0 or n_results == 0)
  if p.max == 0 and n_results == 0 then
    -- A draining worker's last round: an empty element ends its wait at once, so that it need
    -- not wait out its timeout to know that no hand-off is on its way.
    local inbox = c.prefix .. 'inbox:' .. p.consumer
    redis.call('RPUSH', inbox, '[]')
    redis.call('PEXPIRE', inbox, int(p.lease))
  end
  local room = p.max -- before what was handed: whether the worker waits
  p.max = math.max(0, p.max - n_handed)
  if n_handed > 0 then p.maxs = int(p.max) end
  local out = {}
  if p.max > 0 then
    p.lease_until = int(c.now + p.lease)
    -- Expired leases and held requests are rare, and looking costs a command or two per round:
    -- without caps, a round looks first only one time in TIDY_EVERY (by the clock), else only
    -- when the streams did not fill its claim. A busy round does not trim the results stream
    -- either: another will, soon.
    local eager = n_caps > 0 or p.default_cap > 0 or c.now % TIDY_EVERY == 0
    local teams = eager and look_back(c, p, out) or {}
    local drained = true
    for rank = 1, 3 do
      if #teams > 0 then take_held(c, p, out, rank, teams) end
      drained = read_stream(c, p, out, rank) and drained
    end
    c.tidy = eager or #out < p.max * CLAIMED
    if not eager and c.tidy then
      teams = look_back(c, p, out)
      for rank = 1, 3 do
        if #teams > 0 then take_held(c, p, out, rank, teams) end
      end
    end
    -- A claim that found nothing in streams it read to their end: the wake tokens left are of
    -- requests that busy workers claimed, and each would wake an idle one for nothing.
    if #out == 0 and drained then redis.call('DEL', c.prefix .. 'wake') end
    -- One (or none) in streams read to their end: the worker waits for the next submission
    -- now, and takes submissions' claims for it meanwhile. Not with caps, which a submission
    -- does not know.
    local got = n_handed + #out / CLAIMED
    if handoff_ms > 0 and drained and got <= 1 and room >= 2 and n_caps == 0 and
       p.default_cap == 0 then
      redis.call('HSET', c.prefix .. 'idle', p.consumer, int(c.now + handoff_ms) .. ' ' ..
                 int(p.lease) .. ' ' .. int(room - got))
    end
  end
  flush(c, results_maxlen)
  verdicts[#verdicts + 1] = c.now_us
  verdicts[#verdicts + 1] = #handed
  for i = 1, #handed do verdicts[#verdicts + 1] = handed[i] end
  for i = 1, #out do verdicts[#verdicts + 1] = out[i] end
  return verdicts
end

-- ---- extend ----------------------------------------------------------------------------------

-- KEYS: leases, then the status key of each id.  ARGV: prefix, consumer, lease_ms, ids...
-- Returns per id: 0 the lease is renewed, 1 renewed but cancellation was asked, 2 lost (another
-- worker has it, or the analysis ended). A lease that expired but that nobody took over is
-- renewed too: it is how a worker back from an outage keeps what it runs.
local function extend(keys, args)
  local until_ms, consumer = int(now_ms() + num(args[3], 'lease')), args[2]
  local out, renew = {}, {}
  for i = 4, #args do
    local v = redis.call('HMGET', keys[i - 2], 'status', 'consumer', 'cancel')
    if v[1] == 'running' and v[2] == consumer then
      renew[#renew + 1], renew[#renew + 2] = until_ms, args[i]
      out[#out + 1] = v[3] == '1' and 1 or 0
    else
      out[#out + 1] = 2
    end
  end
  if #renew > 0 then call_list('ZADD', keys[1], 'XX', renew) end
  return out
end

-- ---- cancel ----------------------------------------------------------------------------------

-- KEYS: status key.  ARGV: prefix, id, ttl_ms, results_maxlen.
-- Returns {outcome, status}: 0 cancelled (it was queued), 1 cancelling (it runs; its worker
-- learns it when it extends the lease), 2 refused (it has ended; status says how), 3 no such
-- analysis.
local function cancel(keys, args)
  local c = ctx_new(args[1], now_ms())
  local id, ttl = args[2], args[3]
  num(ttl, 'ttl')
  local maxlen = num(args[4], 'maxlen') -- checked before anything is written
  local h = hget_state(keys[1])
  if not h.status then return {3, ''} end
  if FINAL[h.status] then return {2, h.status} end
  if h.status == 'running' then
    redis.call('HSET', keys[1], 'cancel', '1')
    -- Told to the worker that holds it at once (rt_queue_wait_for_cancels), not only at its next
    -- heartbeat; the list of a worker that is gone expires.
    local told = c.prefix .. 'cancel:' .. (h.consumer or '')
    redis.call('LPUSH', told, id)
    redis.call('EXPIRE', told, 86400)
    return {1, 'running'}
  end
  redis.call('ZREM', held_key(c, h.team), id)
  if h.deadline > 0 then redis.call('ZREM', c.held_deadlines, id) end
  c.delete_entries = true -- it may never have been delivered: trimming would not reach it
  finish(c, id, h, 'cancelled', 'cancelled before it started', false, ttl)
  flush(c, maxlen)
  return {0, 'cancelled'}
end

-- ---- reads -----------------------------------------------------------------------------------

local function fields_of(skey)
  return redis.call('HMGET', skey, unpack(FIELDS))
end

-- KEYS: status key, result key.  Returns {fields..., result or false}, or false.
local function get(keys, args)
  local v = fields_of(keys[1])
  if not v[1] then return false end
  v[#FIELDS + 1] = FINAL[v[1]] and redis.call('GET', keys[2]) or false
  return v
end

-- True when the labels 'text' (the JSON object the submit stored, '' for none) have label
-- 'name' with value 'value'.
local function has_label(text, name, value)
  if not text or text == '' then return false end
  local ok, labels = pcall(cjson.decode, text)
  return ok and type(labels) == 'table' and labels[name] == value
end

-- KEYS: the listing's index (submit).  ARGV: prefix, the entry to start from ('+' first), how
-- many of its ids are left to list ('' all), limit, status filter ('' any), analyzer filter (''
-- any), scan budget, then optionally a label's name and value ('' any) and the oldest entry to
-- list ('' or '-': no bound; entries are by submission time, so this is 'submitted since').
-- Newest first: entries from the newest, and each entry's ids from its last. Returns {next entry,
-- how many of its ids are left, then per analysis: id, fields...}; next entry '' when the listing
-- is complete. The index is read an entry at first, then more at a time (up to 64): an entry may
-- hold one id or a thousand.
local function list(keys, args)
  local prefix, from, left, limit = args[1], args[2], args[3], num(args[4], 'limit')
  local want_status, want_analyzer, budget = args[5], args[6], num(args[7], 'budget')
  local label_name, label_value = args[8] or '', args[9] or ''
  local oldest = (args[10] == nil or args[10] == '') and '-' or args[10]
  local found, scanned, batch = 0, 0, 1
  local out = {'', ''}
  left = left ~= '' and num(left, 'left') or nil
  while true do
    local entries = redis.call('XREVRANGE', keys[1], from, oldest, 'COUNT', batch)
    if #entries == 0 then return out end
    batch = math.min(batch * 4, 64)
    for _, e in ipairs(entries) do
      local ids = {}
      for id in string.gmatch(e[2][2] or '', '%S+') do ids[#ids + 1] = id end
      local i = (e[1] == from and left) and math.min(left, #ids) or #ids
      left = nil
      while i >= 1 do
        local id = ids[i]
        i = i - 1
        scanned = scanned + 1
        local v = fields_of(prefix .. 'a:' .. id)
        if v[1] and (want_status == '' or v[1] == want_status) and (want_analyzer == '' or v[2] == want_analyzer)
            and (label_name == '' or has_label(v[9], label_name, label_value)) then
          out[#out + 1] = id
          for j = 1, #FIELDS do out[#out + 1] = v[j] or '' end
          found = found + 1
        end
        if found >= limit or scanned >= budget then
          out[1], out[2] = e[1], int(i)
          return out
        end
      end
      from = '(' .. e[1]
    end
  end
end

-- KEYS: the three request streams, leases, stats, dead, results, held.
-- Lags up to this many entries are counted (stats): a small walk of the stream, at each scrape.
local LAG_COUNTED_MAX = 100

-- How many entries of 'stream' wait to be delivered: the group's lag, as Redis tells it.
-- Acknowledged entries wait in the stream until it is trimmed past them (drop_entries), so
-- length minus pending is only the fallback, for when Redis cannot tell the lag. Redis 7.0 can
-- also tell it wrong, too large for good, once entries not yet delivered were deleted (a request
-- cancelled while queued): a small lag is therefore counted, entry by entry after the last
-- delivered one, so that an idle queue reads 0. A large one stays as told, off by at most the
-- requests ever cancelled while queued.
local function undelivered(stream)
  local g = workers_group(stream)
  local lag = g and field_of(g, 'lag')
  if type(lag) ~= 'number' then
    return redis.call('XLEN', stream) - ((g and field_of(g, 'pending')) or 0)
  end
  if lag == 0 or lag > LAG_COUNTED_MAX then return lag end
  local after = '(' .. field_of(g, 'last-delivered-id')
  return #redis.call('XRANGE', stream, after, '+', 'COUNT', lag)
end

-- Returns a flat list of name, value pairs.
local function stats(keys, args)
  local c = ctx_new(args[1], 0)
  local out = {}
  local held_total = 0
  local teams = redis.call('SMEMBERS', c.held_teams)
  for _, team in ipairs(teams) do
    held_total = held_total + redis.call('ZCARD', held_key(c, team))
  end
  for rank = 1, 3 do
    out[#out + 1], out[#out + 2] = 'queued:' .. PRIORITY[rank], undelivered(c.streams[rank])
  end
  out[#out + 1], out[#out + 2] = 'held', held_total
  out[#out + 1], out[#out + 2] = 'running', redis.call('ZCOUNT', c.leases, '-inf', '(+inf')
  out[#out + 1], out[#out + 2] = 'dead_letters', redis.call('XLEN', c.dead)
  out[#out + 1], out[#out + 2] = 'results_length', redis.call('XLEN', c.results)
  local counters = redis.call('HGETALL', c.stats)
  for i = 1, #counters do out[#out + 1] = counters[i] end
  return out
end

-- Deletes the consumers of 'stream''s group that hold nothing and were not heard from for
-- 'stale_ms': a worker child is a consumer of its own (named by its pid), so without this the
-- group would keep one for every child that ever ran.
local function forget_stale_consumers(stream, stale_ms)
  local consumers = redis.pcall('XINFO', 'CONSUMERS', stream, GROUP)
  if type(consumers) ~= 'table' or consumers.err then return end
  for _, info in ipairs(consumers) do
    local name = field_of(info, 'name')
    if name ~= HELD and field_of(info, 'pending') == 0 and (field_of(info, 'idle') or 0) >= stale_ms then
      redis.call('XGROUP', 'DELCONSUMER', stream, GROUP, name)
    end
  end
end

-- KEYS: the three request streams.  ARGV: prefix, and how long (ms) a consumer that holds
-- nothing may stay silent before it is deleted (a day when absent). Creates the streams'
-- consumer group and notes a restart of Redis (restarts, above); returns VERSION. Runs on each
-- new connection of a queue.
local function init(keys, args)
  local stale_ms = args[2] and num(args[2], 'stale_ms') or 86400000
  for i = 1, 3 do
    ensure_group(keys[i])
    forget_stale_consumers(keys[i], stale_ms)
  end
  note_server(args[1])
  return VERSION
end

-- ---- counters of workers (connector calls) ----------------------------------------------------

-- KEYS: the counters hash.  ARGV: prefix, then pairs field, increment (text of a number).
-- Adds each increment to its field: workers send what they counted since their last call.
local function count_add(keys, args)
  for i = 2, #args - 1, 2 do
    redis.call('HINCRBYFLOAT', keys[1], args[i], args[i + 1])
  end
  return math.floor(#args / 2)
end

-- The functions, registered as LIBRARY_NAME (wrap, register: runtime/rt_fnlib_prelude.lua).
register('version', function() return VERSION end, true)
register('init', wrap(init))
register('submit', wrap(submit))
register('claim', wrap(claim))
register('extend', wrap(extend))
register('cancel', wrap(cancel))
register('get', wrap(get), true)
register('list', wrap(list), true)
register('stats', wrap(stats), true)
register('count', wrap(count_add))

-- ---- resolve (alert intake) ------------------------------------------------------------------
--
-- Design notes. The intake's starts go through submit, with a dedup key per route and alert
-- (K) that names the alert's analysis for the route's window. Two more things are kept per K:
--   record     {P}ar:K, a set of the analyses the alert started, kept for the queue's ttl (as
--              long as the analyses): a resolve that comes after the window, when the dedup key
--              has expired, still finds and stamps them.
--   tombstone  after a resolve, the dedup key holds TOMB .. the resolved alert's startsAt (ms;
--              '0': not known) for the window: a late or retried firing of that same episode
--              (its startsAt no later) starts nothing, while a new episode (a later startsAt)
--              does. submit's dedup helper reads a tombstone as a key that names no live
--              analysis, so a firing that passes the check here takes the key over.
-- Both are written in the same atomic call as the analyses they are about.

local TOMB = '~'

-- KEYS: as submit's (recent, then per request its status key and its dedup key), then per
--       request its alert's record key.
-- ARGV: as submit's, then per request when its alert started (ms as text; '0': not known).
-- Returns per request: id, then 0 (started), 1 (deduplicated) or 2: not started, a late firing
-- of an alert that resolved within the window (id '').
local function submit_alerts(keys, args)
  local n = num(args[4], 'n')
  local sub_keys, sub_args, taken, out = {keys[1]}, {args[1], args[2], args[3], '0'}, {}, {}
  for i = 0, n - 1 do
    local started = num(args[5 + n * REQ + i], 'started')
    local held = redis.call('GET', keys[3 + i * 2])
    local late = false
    if held and string.sub(held, 1, 1) == TOMB then
      local ended = tonumber(string.sub(held, 2)) or 0
      late = started > 0 and ended > 0 and started <= ended
    end
    out[i * 2 + 1], out[i * 2 + 2] = '', 2
    if not late then
      taken[#taken + 1] = i
      sub_keys[#sub_keys + 1], sub_keys[#sub_keys + 2] = keys[2 + i * 2], keys[3 + i * 2]
      for j = 0, REQ - 1 do sub_args[#sub_args + 1] = args[5 + i * REQ + j] end
    end
  end
  if #taken == 0 then return out end
  sub_args[4] = tostring(#taken)
  local r = submit(sub_keys, sub_args)
  for k, i in ipairs(taken) do
    local id, dup = r[k * 2 - 1], r[k * 2]
    out[i * 2 + 1], out[i * 2 + 2] = id, dup
    if dup == 0 then
      local record = keys[2 + n * 2 + i]
      redis.call('SADD', record, id)
      redis.call('PEXPIRE', record, args[2])
    end
  end
  return out
end

-- KEYS: stats, then per alert its dedup key and its record key.
-- ARGV: prefix, then per alert when it started (ms as text; '0': not known) and how long its
--       tombstone stays (ms as text: the route's window; '0': none).
-- Stamps 'resolved_at' on every analysis of the alert that still exists (those its record names
-- and the one its dedup key names), deletes the record and leaves the tombstone.
-- Returns per alert: the ids of the analyses it stamped, sorted (none when the alert never
-- fired here, its analyses expired, or it resolved already).
local function resolve(keys, args)
  local prefix, nows = args[1], select(2, now_ms())
  local out, stamped = {}, 0
  for i = 0, (#keys - 1) / 2 - 1 do
    local dkey, record = keys[2 + i * 2], keys[3 + i * 2]
    local ids = redis.call('SMEMBERS', record)
    local held = redis.call('GET', dkey)
    if held and string.sub(held, 1, 1) ~= TOMB then ids[#ids + 1] = held end
    local seen, named = {}, {}
    for _, id in ipairs(ids) do
      if not seen[id] then
        seen[id] = true
        local skey = prefix .. 'a:' .. id
        if redis.call('EXISTS', skey) == 1 then
          redis.call('HSET', skey, 'resolved_at', nows)
          named[#named + 1] = id
        end
      end
    end
    table.sort(named)
    stamped = stamped + #named
    redis.call('DEL', record)
    local window = args[3 + i * 2]
    if window ~= '0' then
      redis.call('SET', dkey, TOMB .. args[2 + i * 2], 'PX', window)
    else
      redis.call('DEL', dkey)
    end
    out[#out + 1] = named
  end
  if stamped > 0 then redis.call('HINCRBY', keys[1], 'resolved', stamped) end
  return out
end

register('submit_alerts', wrap(submit_alerts))
register('resolve', wrap(resolve))

-- ---- the intake's misfits (alert intake) -----------------------------------------------------
--
-- Design notes. A start whose inputs, as its route built them from the alert, do not fit its
-- analyzer cannot be queued, yet must not be lost: it goes to the dead-letter stream {P}dead,
-- beside the requests that died after too many deliveries, in the same atomic call as the
-- request's other starts. One stream because both are "work that was asked for and did not run,
-- waiting for an operator": the same listing (GET /v1/dead-letters), the same trim, the same
-- token scoping by analyzer and team, the same metrics. An intake entry has origin 'intake', no
-- analysis id, and adds route, source, fingerprint, the alert and the field errors.
-- Alertmanager re-sends a firing alert with each notification of its group, so a misfit is
-- recorded once per dedup window: its marker {P}dl:K (K the start's dedup key) names the entry
-- for the window; window '0' records every time.

-- KEYS: as submit_alerts's (1 + 3n), then the dead-letter stream, stats, and per misfit its
--       marker key.
-- ARGV: as submit_alerts's (4 + (REQ + 1)n), then dead_maxlen, m, then per misfit: window_ms (text),
--       the number of field/value pairs, and the pairs of its entry.
-- Returns submit_alerts's 2n values, then per misfit: its entry id, then 0 (recorded now) or 1
-- (recorded within the window already).
local function submit_intake(keys, args)
  local n = num(args[4], 'n')
  local k0, a0 = 2 + 3 * n, 5 + (REQ + 1) * n
  local dead, stats = keys[k0], keys[k0 + 1]
  local dead_maxlen, m = num(args[a0], 'dead_maxlen'), num(args[a0 + 1], 'm')
  if m > 1000 then fail('EINPUT', 'at most 1000 misfits per call') end
  local misfits, a = {}, a0 + 2
  for j = 1, m do -- check everything before writing anything: errors do not roll back
    local window, pairs_n = num(args[a], 'window'), num(args[a + 1], 'pairs')
    misfits[j] = {window = args[a], first = a + 2, count = pairs_n, dedup = window > 0}
    a = a + 2 + 2 * pairs_n
  end
  if a - 1 ~= #args then fail('EINPUT', 'misfit arguments do not add up') end
  local out = n > 0 and submit_alerts(keys, args) or {}
  local nows = select(2, now_ms())
  local recorded = 0
  for j, mf in ipairs(misfits) do
    local marker = keys[k0 + 1 + j]
    local eid = mf.dedup and redis.call('GET', marker)
    if eid then
      out[#out + 1], out[#out + 2] = eid, 1
    else
      local fields = {'id', '', 'origin', 'intake', 'deliveries', '0', 'at', nows}
      for i = mf.first, mf.first + 2 * mf.count - 1 do fields[#fields + 1] = args[i] end
      eid = redis.call('XADD', dead, 'MAXLEN', '~', dead_maxlen, '*', unpack(fields))
      if mf.dedup then redis.call('SET', marker, eid, 'PX', mf.window) end
      recorded = recorded + 1
      out[#out + 1], out[#out + 2] = eid, 0
    end
  end
  if recorded > 0 then redis.call('HINCRBY', stats, 'dead_intake', recorded) end
  return out
end

register('submit_intake', wrap(submit_intake))
