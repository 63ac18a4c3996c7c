-- runtime/rt_fnlib_prelude.lua -- what every function library of Inquest begins with
-- (runtime/rt_queue.lua, postproc/pp_chain.lua, integrations/ig_store.lua): runtime/rt_fnlib.c
-- puts it after the library's first line, with LIBRARY, the versioned library's name
-- (NAME_vVERSION), defined just before it.

-- A function's body in a protected call: its errors become error replies whose first word is an
-- rt error name ("EINPUT ..."), which the C side maps back; any other error is EBACKEND.
local function wrap(f)
  return function(keys, args)
    local ok, r = pcall(f, keys, args)
    if ok then return r end
    if type(r) == 'table' and r.err then return redis.error_reply(r.err) end
    local msg = tostring(r)
    if string.match(msg, '^E[A-Z]+ ') then return redis.error_reply(msg) end
    return redis.error_reply('EBACKEND ' .. msg)
  end
end

-- Registers 'f' as LIBRARY_'name'; 'read_only' ones may run on replicas (FCALL_RO).
local function register(name, f, read_only)
  redis.register_function{function_name = LIBRARY .. '_' .. name,
                          flags = read_only and {'no-writes'} or {}, callback = f}
end
