#!lua name=inquest_pp
-- postproc/pp_chain.lua -- the post-processor's Redis 7 function library (docs/operating.md, the
-- safety chain): every change of an action's state is one call of one of these functions, so it
-- is atomic, and each writes its audit record in the same call. The C side (postproc/pp_chain.c)
-- embeds this text and loads it as the library inquest_pp_vVERSION, with functions
-- inquest_pp_vVERSION_NAME, after the shared prelude (runtime/rt_fnlib_prelude.lua: wrap,
-- register), when Redis lacks it (runtime/rt_fnlib.h: programs of two versions
-- work side by side during an upgrade). A library of its own, apart from the queue's (runtime/rt_queue.lua).
--
-- Keys, under the queue's prefix P ("{name}:", ARGV[1]):
--   P.."results"          the queue's results stream; this library's group 'postproc' reads it
--   P.."audit"            the audit stream: one entry per transition, trimmed only by age
--   P.."pp:actions"       sorted set: action id -> created (ms), for listings; an action leaves
--                         it once final and created more than action_ttl ago, never before
--   P.."pp:due"           sorted set: action id -> when a post-processor should look at it (ms):
--                         to run, to retry, or to take over when its lease ran out
--   P.."pp:act:ID"        hash: the action (spec, state, attempts, owner, lease_until, …)
--   P.."pp:verify:AID"    string: the action whose follow-up analysis is AID (set once the
--                         follow-up is queued)
--   P.."pp:vdone:AID"     string: "status\ntag" of follow-up analysis AID that ended before its
--                         link was set (inquest_pp_verify_link then decides at once)
--   P.."pp:usage:POLICY"  sorted set: "service\nid" -> when it ran (ms), for rate limits
--
-- States (invariant: only these transitions happen, each with an audit record):
--   planned -> executing | dry_run (final) | policy_denied (final) | awaiting_approval | failed
--   awaiting_approval -> approved | rejected (final) | expired (final: no decision by its
--                        approval_deadline, postproc.approval_ttl after it began to wait)
--   approved -> executing | expired (final: not begun within postproc.approval_ttl of its
--               approval, as when no post-processor ran: what it was approved for may be over)
--   retrying -> executing
--   executing -> succeeded | failed | retrying | policy_denied | verifying
--                (only by the consumer that holds its lease)
--   executing -> dry_run | failed (the kill switch: its rule was made a dry run or removed)
--   executing, lease expired -> executing (idempotent endpoints) | failed (outcome unknown)
--   verifying -> verified | verify_failed (the follow-up's conclusion, or none by its deadline)
-- A spec is kept as the JSON text the post-processor wrote, never re-encoded here (cjson would
-- turn [] into {} and round integers past 14 digits).
-- A post-processor runs an action only after inquest_pp_begin moved it to executing under its
-- name: two post-processors, or a retry, never both run it.

local VERSION = 9
local GROUP = 'postproc'
local FINAL = {dry_run = true, policy_denied = true, rejected = true, expired = true,
               succeeded = true, failed = true, verified = true, verify_failed = true}
local EXPIRED = 'nobody approved or rejected it by its deadline (postproc.approval_ttl): ' ..
                'it will not run'
local STALE = 'approved, but not begun within postproc.approval_ttl of its approval (no ' ..
              'post-processor ran it): what it was approved for may be over, so it will not run'

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

local function hget_all(key)
  local flat = redis.call('HGETALL', key)
  local h = {}
  for i = 1, #flat, 2 do h[flat[i]] = flat[i + 1] end
  return h, flat
end

local function present(v)
  return v ~= nil and v ~= cjson.null
end

-- Appends an audit record: what happened to action 'id' ('spec' its description), who did it
-- and why. Records older than 'retention' ms go; the stream is never trimmed by length.
local function audit(key, retention, now, id, spec, from, to, actor, reason)
  redis.call('XADD', key, 'MINID', '~', int(now - retention), '*',
             'at', int(now), 'action', id, 'analysis', spec.analysis or '',
             'analyzer', spec.analyzer or '', 'team', spec.team or '',
             'rule', spec.rule or '', 'type', spec.type or '', 'name', spec.name or '',
             'service', spec.service or '', 'from', from, 'to', to, 'actor', actor,
             'reason', reason or '')
end

-- The action's hash and its spec decoded, for reading only: the hash keeps the text.
local function load_action(key)
  local h = hget_all(key)
  if not h.state then return nil end
  return h, cjson.decode(h.spec)
end

-- Moves the action at 'key' from its state to 'to', with its audit record. 'extra' holds more
-- fields to set. Final states get the TTL; the due entry goes unless 'due_at' sets it.
local function move(c, key, h, spec, to, actor, reason, extra, due_at)
  local fields = {'state', to, 'reason', reason or '', 'updated_at', int(c.now)}
  for k, v in pairs(extra or {}) do
    fields[#fields + 1] = k
    fields[#fields + 1] = v
  end
  redis.call('HSET', key, unpack(fields))
  audit(c.audit, c.retention, c.now, spec.id, spec, h.state, to, actor, reason)
  h.state = to
  if due_at then
    redis.call('ZADD', c.due, int(due_at), spec.id)
  else
    redis.call('ZREM', c.due, spec.id)
  end
  if FINAL[to] then redis.call('PEXPIRE', key, c.ttl) end
end

-- When the decision on action 'h', awaiting approval, is due (ms): its approval_deadline, set
-- when it began to wait. One recorded by library v4 or older has none: it began to wait at its
-- updated_at, and waits 'approval_ttl' ms from then.
local function approval_deadline(h, approval_ttl)
  return tonumber(h.approval_deadline or '') or (tonumber(h.updated_at or '0') + approval_ttl)
end

-- ---- recording what the rules planned ---------------------------------------------------------

-- Decides the action verifying at 'key' from its follow-up analysis' end.
local function verify_decide(c, key, analysis, status, tag)
  local h, spec = load_action(key)
  if not h or h.state ~= 'verifying' then return end
  local expect = present(spec.verify) and present(spec.verify.expect) and spec.verify.expect or {}
  if #expect == 0 then expect = {'no_anomaly', 'resolved'} end
  local ok = false
  for _, t in ipairs(expect) do ok = ok or (status == 'ok' and t == tag) end
  local why = 'follow-up analysis ' .. analysis .. ' ended ' .. status .. ' (' .. tag .. ')'
  move(c, key, h, spec, ok and 'verified' or 'verify_failed', 'postproc', why)
end

-- A follow-up analysis ended ('verifies' the action it says it verifies, or ''): the action that
-- started it is verified, or not. One that ended before its link was set is kept for the link.
local function check_verification(c, prefix, analysis, status, tag, verifies, vttl)
  local vkey = prefix .. 'pp:verify:' .. analysis
  local id = redis.call('GET', vkey)
  if not id then
    if verifies ~= '' then
      redis.call('SET', prefix .. 'pp:vdone:' .. analysis, status .. '\n' .. tag, 'PX', vttl)
    end
    return
  end
  redis.call('DEL', vkey)
  verify_decide(c, prefix .. 'pp:act:' .. id, analysis, status, tag)
end

-- Makes an action awaiting approval without a deadline (recorded by library v4 or older, which
-- took it out of the due set) due at the deadline it would have had, so that it expires.
local function make_due(c, prefix, id, approval_ttl)
  local f = redis.call('HMGET', prefix .. 'pp:act:' .. id, 'state', 'approval_deadline', 'updated_at')
  if f[1] == 'awaiting_approval' and not f[2] then
    local deadline = approval_deadline({updated_at = f[3] or nil}, approval_ttl)
    redis.call('HSET', prefix .. 'pp:act:' .. id, 'approval_deadline', int(deadline))
    redis.call('ZADD', c.due, 'NX', int(deadline), id)
  end
  return f[1]
end

-- Takes out of the listing 'actions' the actions created more than c.ttl ago that are final (their
-- hash expires within c.ttl of that) or gone; one that is not final yet stays, however old: an
-- action that waits is always listed (and made due when it awaits approval without a deadline).
-- Looks at FORGET_PAGES pages of 100 of the oldest at most: each call's cost is bounded, and the
-- pages step past the ones that stay, so that old actions still running or verifying do not
-- keep the final ones behind them listed.
local FORGET_PAGES = 10
local function forget_old(c, prefix, actions, approval_ttl)
  local kept = 0
  for _ = 1, FORGET_PAGES do
    local old = redis.call('ZRANGEBYSCORE', actions, '-inf', '(' .. int(c.now - c.ttl),
                           'LIMIT', int(kept), '100')
    for _, id in ipairs(old) do
      local state = make_due(c, prefix, id, approval_ttl)
      if not state or FINAL[state] then redis.call('ZREM', actions, id) else kept = kept + 1 end
    end
    if #old < 100 then return end
  end
end

-- KEYS: results, audit, actions, due.
-- ARGV: prefix, entry (the results stream entry to acknowledge, or ''), analysis id, its status,
-- its conclusion tag, retention_ms, ttl_ms, actor, then a JSON array of planned actions, each
-- { id, state, reason, spec } (spec: the action's JSON text, kept verbatim), then the action the
-- analysis verifies ('' when none), verify_ttl_ms and approval_ttl_ms.
-- Records each action that is not recorded yet (a redelivered result plans the same ids), then
-- acknowledges the entry: a result is acknowledged only once its actions are recorded. An entry
-- lists several analyses, each recorded with entry '', and then acknowledged by a call with
-- analysis id '' and no actions. One that awaits approval is due at its deadline, when
-- inquest_pp_begin ends its wait. Returns the state of each action, in order.
local function record(keys, args)
  local prefix = args[1]
  local c = {audit = keys[2], due = keys[4], now = now_ms(),
             retention = tonumber(args[6]), ttl = tonumber(args[7])}
  local approval_ttl = tonumber(args[12])
  local actor = args[8]
  local actions = cjson.decode(args[9])
  local out = {}
  for i, a in ipairs(actions) do
    local key = prefix .. 'pp:act:' .. a.id
    local state = redis.call('HGET', key, 'state')
    if state then
      out[i] = state
    else
      local first, reason = a.state, a.reason
      local spec = cjson.decode(a.spec)
      redis.call('HSET', key, 'id', a.id, 'spec', a.spec, 'state', 'planned', 'reason', '',
                 'attempts', '0', 'created_at', int(c.now), 'updated_at', int(c.now))
      redis.call('ZADD', keys[3], int(c.now), a.id)
      audit(c.audit, c.retention, c.now, a.id, spec, '', 'planned', actor, spec.summary)
      local h = {state = 'planned'}
      if first == 'planned' then
        redis.call('ZADD', c.due, int(c.now), a.id)
      elseif first == 'awaiting_approval' then
        local deadline = c.now + approval_ttl
        move(c, key, h, spec, first, actor, reason, {approval_deadline = int(deadline)}, deadline)
      else
        move(c, key, h, spec, first, actor, reason)
      end
      out[i] = first
    end
  end
  if args[3] ~= '' then
    check_verification(c, prefix, args[3], args[4], args[5], args[10] or '', args[11] or '86400000')
  end
  if args[2] ~= '' then redis.call('XACK', keys[1], GROUP, args[2]) end
  forget_old(c, prefix, keys[3], approval_ttl)
  return out
end

-- ---- people: approve and reject ---------------------------------------------------------------

-- KEYS: the action, audit, due.  ARGV: prefix, id, decision ('approve' or 'reject'), actor,
-- reason, retention_ms, ttl_ms, approval_ttl_ms (for an action recorded without a deadline).
-- Only an action awaiting approval, before its deadline, can be decided. A decision that comes
-- later ends the wait instead, as inquest_pp_begin would have: the action is 'expired', with the
-- late decision in its audit record. Returns the new state.
local function decide(keys, args)
  local c = {audit = keys[2], due = keys[3], now = now_ms(),
             retention = tonumber(args[6]), ttl = tonumber(args[7])}
  local h, spec = load_action(keys[1])
  if not h then fail('ENOTFOUND', 'no action ' .. args[2]) end
  if h.state == 'expired' then
    fail('EUSAGE', 'the action expired: ' .. EXPIRED)
  elseif h.state ~= 'awaiting_approval' then
    fail('EUSAGE', 'the action is ' .. h.state .. ', not awaiting approval')
  end
  if args[3] ~= 'approve' and args[3] ~= 'reject' then
    fail('EINPUT', 'decision must be approve or reject')
  end
  if c.now >= approval_deadline(h, tonumber(args[8])) then
    move(c, keys[1], h, spec, 'expired', args[4],
         EXPIRED .. ' (' .. args[3] .. ' came too late)')
  elseif args[3] == 'approve' then
    move(c, keys[1], h, spec, 'approved', args[4], args[5], {approved_by = args[4]}, c.now)
  else
    move(c, keys[1], h, spec, 'rejected', args[4], args[5], {rejected_by = args[4]})
  end
  return h.state
end

-- ---- running ------------------------------------------------------------------------------------

-- Counts what ran under the action's policy within its window (its own reservation aside) and
-- reserves its own place: { per_service, services, service_seen }.
local function reserve(prefix, spec, now)
  if not present(spec.policy) then return {0, 0, 0} end
  local p = spec.policy
  local ukey = prefix .. 'pp:usage:' .. p.name
  redis.call('ZREMRANGEBYSCORE', ukey, '-inf', '(' .. int(now - p.window_ms))
  local per, seen, services, n = 0, 0, {}, 0
  local mine = spec.service .. '\n' .. spec.id
  for _, m in ipairs(redis.call('ZRANGE', ukey, 0, -1)) do
    if m ~= mine then
      local service = string.match(m, '^(.*)\n')
      if service and not services[service] then
        services[service] = true
        n = n + 1
      end
      if service == spec.service then
        per = per + 1
        seen = 1
      end
    end
  end
  redis.call('ZADD', ukey, int(now), mine)
  redis.call('PEXPIRE', ukey, int(p.window_ms))
  return {per, n, seen}
end

-- KEYS: the action, due, audit.  ARGV: prefix, id, consumer, lease_ms (unless the spec has
-- its own), retention_ms, ttl_ms, approval_ttl_ms (for an action recorded without a deadline).
-- Takes the action to run it: from planned, approved or retrying, or from executing when the
-- lease of its last holder ran out. Returns { verdict, attempts, per_service, services,
-- service_seen, spec }: verdict 'execute' (run it now), 'busy' (another holds it), 'interrupted'
-- (its last attempt was cut off and the endpoint takes no Idempotency-Key: failed, not sent
-- again), 'expired' (it awaited approval past its deadline, or was approved too long ago: final,
-- never run), 'skip' (nothing
-- to do: 'state' instead of attempts) or 'gone'.
local function begin(keys, args)
  local prefix, id, consumer = args[1], args[2], args[3]
  local c = {audit = keys[3], due = keys[2], now = now_ms(),
             retention = tonumber(args[5]), ttl = tonumber(args[6])}
  local h, spec = load_action(keys[1])
  if not h then
    redis.call('ZREM', c.due, id)
    return {'gone'}
  end
  local why = nil
  if h.state == 'executing' then
    if tonumber(h.lease_until or '0') > c.now then return {'busy'} end
    if not spec.idempotent then
      move(c, keys[1], h, spec, 'failed', consumer,
           'interrupted during attempt ' .. (h.attempts or '?') .. ' (its holder ' ..
           (h.owner or '?') .. ' stopped): the outcome is unknown, and the endpoint takes no ' ..
           'Idempotency-Key, so it is not sent again')
      return {'interrupted'}
    end
    why = 'taken over from ' .. (h.owner or '?') .. ' after its lease ran out'
  elseif h.state == 'verifying' then
    local due_at = tonumber(h.verify_due or '0')
    if due_at > c.now then
      redis.call('ZADD', c.due, int(due_at), id)
      return {'skip', h.state}
    end
    move(c, keys[1], h, spec, 'verify_failed', consumer,
         'no follow-up result by its deadline' ..
         (h.verify_analysis and (' (analysis ' .. h.verify_analysis .. ')') or ''))
    return {'skip', h.state}
  elseif h.state == 'awaiting_approval' then
    local deadline = approval_deadline(h, tonumber(args[7]))
    if deadline > c.now then -- due early (another process' clock, or a restored due entry)
      redis.call('ZADD', c.due, int(deadline), id)
      return {'skip', h.state}
    end
    move(c, keys[1], h, spec, 'expired', consumer, EXPIRED)
    return {'expired'}
  elseif h.state == 'approved' and c.now > tonumber(h.updated_at or '0') + tonumber(args[7]) then
    move(c, keys[1], h, spec, 'expired', consumer, STALE)
    return {'expired'}
  elseif not (h.state == 'planned' or h.state == 'approved' or h.state == 'retrying') then
    redis.call('ZREM', c.due, id)
    return {'skip', h.state}
  end
  local attempts = tonumber(h.attempts or '0') + 1
  local lease_until = c.now + (tonumber(spec.lease_ms) or tonumber(args[4]))
  move(c, keys[1], h, spec, 'executing', consumer, why or ('attempt ' .. attempts),
       {attempts = int(attempts), owner = consumer, lease_until = int(lease_until)}, lease_until)
  local u = reserve(prefix, spec, c.now)
  return {'execute', attempts, u[1], u[2], u[3], h.spec}
end

-- KEYS: the action, due, audit.  ARGV: prefix, id, consumer, outcome, reason, detail,
-- retry_in_ms (from now), retention_ms, ttl_ms, verify_deadline_ms (from now).
-- Ends an attempt of the consumer that holds the action: outcome 'succeeded', 'failed',
-- 'retry' (again after retry_in), 'denied' (the policy refused it at execution), 'dry_run' or
-- 'withdrawn' (not sent: the rule is now a dry run, or gone; failed), or 'verifying'
-- (succeeded; a follow-up analysis decides by the deadline, inquest_pp_verify_link). Outcomes
-- that sent nothing release the policy reservation. Returns the new state, or 'lost' when the
-- consumer does not hold it (its lease ran out and another took it): the late outcome is then
-- audited, as what really happened, without a change of state.
local function finish(keys, args)
  local prefix, id, consumer, outcome = args[1], args[2], args[3], args[4]
  local c = {audit = keys[3], due = keys[2], now = now_ms(),
             retention = tonumber(args[8]), ttl = tonumber(args[9])}
  local h, spec = load_action(keys[1])
  if not h or h.state ~= 'executing' or h.owner ~= consumer then
    if h then
      audit(c.audit, c.retention, c.now, id, spec, h.state, h.state, consumer,
            'late outcome of an attempt whose lease ran out (the action is ' .. h.state ..
            (h.owner and h.owner ~= consumer and (' under ' .. h.owner) or '') .. '): ' ..
            outcome .. ': ' .. args[5])
    end
    return 'lost'
  end
  local extra = {outcome = args[6], lease_until = '0'}
  local function release()
    if present(spec.policy) then
      redis.call('ZREM', prefix .. 'pp:usage:' .. spec.policy.name, spec.service .. '\n' .. id)
    end
  end
  if outcome == 'succeeded' or outcome == 'failed' then
    move(c, keys[1], h, spec, outcome, consumer, args[5], extra)
  elseif outcome == 'retry' then
    move(c, keys[1], h, spec, 'retrying', consumer, args[5], extra, c.now + tonumber(args[7]))
  elseif outcome == 'denied' then
    release()
    move(c, keys[1], h, spec, 'policy_denied', consumer, args[5], extra)
  elseif outcome == 'dry_run' or outcome == 'withdrawn' then
    release()
    move(c, keys[1], h, spec, outcome == 'dry_run' and 'dry_run' or 'failed', consumer, args[5],
         extra)
  elseif outcome == 'verifying' then
    move(c, keys[1], h, spec, 'succeeded', consumer, args[5], extra)
    local due_at = c.now + tonumber(args[10])
    move(c, keys[1], h, spec, 'verifying', consumer, 'waits for its follow-up analysis',
         {verify_due = int(due_at)}, due_at)
    redis.call('PEXPIRE', keys[1], c.ttl)
  else
    fail('EINPUT', 'unknown outcome ' .. outcome)
  end
  return h.state
end

-- KEYS: the action, due, audit.  ARGV: prefix, id, analysis (the follow-up's id, '' when it
-- could not be queued), reason, retention_ms, ttl_ms, verify_ttl_ms.
-- Links a verifying action to its follow-up analysis (or fails it when there is none); a
-- follow-up that already ended decides at once. Returns the state.
local function verify_link(keys, args)
  local prefix, id, analysis = args[1], args[2], args[3]
  local c = {audit = keys[3], due = keys[2], now = now_ms(),
             retention = tonumber(args[5]), ttl = tonumber(args[6])}
  local h, spec = load_action(keys[1])
  if not h then fail('ENOTFOUND', 'no action ' .. id) end
  if h.state ~= 'verifying' then return h.state end
  if analysis == '' then
    move(c, keys[1], h, spec, 'verify_failed', 'postproc', args[4])
    return h.state
  end
  redis.call('HSET', keys[1], 'verify_analysis', analysis)
  local done = redis.call('GET', prefix .. 'pp:vdone:' .. analysis)
  if done then
    redis.call('DEL', prefix .. 'pp:vdone:' .. analysis)
    local status, tag = string.match(done, '^(.-)\n(.*)$')
    verify_decide(c, keys[1], analysis, status or '', tag or '')
  else
    redis.call('SET', prefix .. 'pp:verify:' .. analysis, id, 'PX', args[7])
  end
  return redis.call('HGET', keys[1], 'state')
end

-- ---- reading ----------------------------------------------------------------------------------

-- KEYS: due.  ARGV: prefix, limit.  The ids due now.
local function due(keys, args)
  return redis.call('ZRANGE', keys[1], '-inf', int(now_ms()), 'BYSCORE', 'LIMIT', '0', args[2])
end

-- KEYS: the action.  ARGV: prefix.  The action's hash, flat.
local function get(keys, args)
  local flat = redis.call('HGETALL', keys[1])
  if #flat == 0 then fail('ENOTFOUND', 'no such action (or it has expired)') end
  return flat
end

-- KEYS: actions.  ARGV: prefix, cursor ('MS:ID', the last action of the page before: its created
-- time and id; '' for the newest), limit, state ('' for any).  Returns { next_cursor or '', hash,
-- hash, … }, newest first, ties in created time by id, descending, so that actions created in
-- the same millisecond are neither skipped nor repeated. A page examines at most 20 times
-- 'limit' actions, so a rare state may give a short page. The page looks on for one action
-- more than 'limit' and gives a next_cursor only when it finds one (or its scan ran out before
-- it could tell): a full page that holds the last action has none, as the analyses' does.
local function list(keys, args)
  local prefix, limit, state = args[1], tonumber(args[3]), args[4]
  local max, cms, cid = '+inf', nil, nil
  if args[2] ~= '' then
    cms, cid = string.match(args[2], '^(%d+):?(%x*)$')
    if not cms then fail('EINPUT', 'cursor must be one a listing gave') end
    if cid == '' then max = '(' .. cms else max = cms end
  end
  local ids = redis.call('ZREVRANGEBYSCORE', keys[1], max, '-inf', 'WITHSCORES', 'LIMIT', '0',
                         int(limit * 20))
  local out, last, n, more = {''}, nil, 0, false
  for i = 1, #ids, 2 do
    local skip = cid and cid ~= '' and ids[i + 1] == cms and ids[i] >= cid
    if not skip then
      local flat = redis.call('HGETALL', prefix .. 'pp:act:' .. ids[i])
      local h = {}
      for j = 1, #flat, 2 do h[flat[j]] = flat[j + 1] end
      if #flat > 0 and (state == '' or h.state == state) then
        if n >= limit then -- one more than the page holds: the next page starts with it
          more = true
          break
        end
        out[#out + 1] = flat
        n = n + 1
      end
      last = ids[i + 1] .. ':' .. ids[i]
    end
  end
  if last and (more or #ids >= limit * 40) then out[1] = last end
  return out
end

-- The ids of the analyses a results entry's fields 'f' list: a line each, "id status ms analyzer",
-- in its field 'analyses' (runtime/rt_queue.lua, publish), or, written by a queue before version
-- 21, the one in its field 'id'.
local function analyses_of(f)
  local ids = {}
  for i = 1, #f - 1, 2 do
    if f[i] == 'analyses' then
      for id in string.gmatch(f[i + 1], '([^ \n]+)[^\n]*') do ids[#ids + 1] = id end
    elseif f[i] == 'id' then
      ids[#ids + 1] = f[i + 1]
    end
  end
  return ids
end

-- KEYS: results, audit.  ARGV: prefix, consumer, idle_ms, cursor, count, max_deliveries, actor,
-- retention_ms.  Takes over results that another consumer took and did not acknowledge within
-- idle_ms (XAUTOCLAIM from 'cursor', the one the last call returned). An entry now delivered
-- more than max_deliveries times is acknowledged and audited as given up instead, a record per
-- analysis it lists: a result whose handling fails every time (a poison entry) is not claimed
-- forever. Returns {the next cursor, the entries claimed, the ids of the entries given up}.
local function claim(keys, args)
  local r = redis.call('XAUTOCLAIM', keys[1], GROUP, args[2], args[3], args[4], 'COUNT', args[5])
  local max, now = tonumber(args[6]), now_ms()
  local kept, gave = {}, {}
  for _, e in ipairs(r[2]) do
    if type(e) == 'table' and e[1] then -- a deleted entry is nil (before Redis 7)
      local p = redis.call('XPENDING', keys[1], GROUP, e[1], e[1], 1)
      local n = p[1] and tonumber(p[1][4]) or 0
      if n > max then
        redis.call('XACK', keys[1], GROUP, e[1])
        for _, analysis in ipairs(analyses_of(e[2] or {})) do
          audit(keys[2], tonumber(args[8]), now, '', {analysis = analysis, type = 'result'}, '',
                'given_up', args[7], 'results entry ' .. e[1] .. ' delivered ' .. n ..
                ' times and never recorded in full (postproc.max_deliveries ' .. args[6] ..
                '): acknowledged; no more actions for this analysis')
        end
        gave[#gave + 1] = e[1]
      else
        kept[#kept + 1] = e
      end
    end
  end
  return {r[1], kept, gave}
end

-- KEYS: results, actions, due.  ARGV: prefix, approval_ttl_ms.
-- Creates the group 'postproc' at the stream's end (a first start acts on what finishes from
-- then on, not on the past), and makes every listed action that awaits approval without a
-- deadline (recorded by library v4 or older) due at the one it would have had; returns VERSION.
local function init(keys, args)
  local ok, err = pcall(redis.call, 'XGROUP', 'CREATE', keys[1], GROUP, '$', 'MKSTREAM')
  if not ok and not string.find(tostring(err.err or err), 'BUSYGROUP') then error(err) end
  local c = {due = keys[3]}
  for _, id in ipairs(redis.call('ZRANGE', keys[2], 0, -1)) do
    make_due(c, args[1], id, tonumber(args[2]))
  end
  return VERSION
end

-- The functions, registered as LIBRARY_NAME (wrap, register: runtime/rt_fnlib_prelude.lua).
register('version', function() return VERSION end, true)
register('init', wrap(init))
register('record', wrap(record))
register('claim', wrap(claim))
register('decide', wrap(decide))
register('begin', wrap(begin))
register('finish', wrap(finish))
register('verify_link', wrap(verify_link))
register('due', wrap(due), true)
register('get', wrap(get), true)
register('list', wrap(list), true)
