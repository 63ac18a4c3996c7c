-- A shared module: analyzers require it as "lib.util".
local util = { loaded = 0 }
function util.double(x) return 2 * x end
util.loaded = util.loaded + 1
return util
