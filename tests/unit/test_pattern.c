/* tests/unit/test_pattern.c -- workers/wk_pattern.c against stock Lua 5.4 (same results and error
   messages for a table-driven corpus and random patterns) and its step budget (abort, counts). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>

#include "../../workers/wk_pattern.h"

#define ABORT_MSG "step budget exhausted"

/* What the charge callback saw. */
typedef struct Charges {
    unsigned long long total;
    unsigned long long limit; /* abort once 'total' reaches it */
    unsigned calls;
    unsigned odd_calls; /* calls whose step count was not WK_PATTERN_CHARGE_EVERY */
} Charges;

static const char *charge(void *ud, unsigned steps) {
    Charges *c = ud;

    c->calls++;
    c->total += steps;
    if (steps != WK_PATTERN_CHARGE_EVERY)
        c->odd_calls++;
    return c->total >= c->limit ? ABORT_MSG : NULL;
}

/* Serializes results and runs one case against both implementations. Arguments are Lua source,
   evaluated once per implementation so replacement functions can log their calls into 'log'. */
static const char driver_src[] =
    "local stock, mine = ...\n"
    "local function ser(v)\n"
    "  local t = type(v)\n"
    "  if t == 'string' then return string.format('%q', v) end\n"
    "  if t == 'number' then return math.type(v) .. ':' .. string.format('%q', v) end\n"
    "  if t ~= 'table' then return tostring(v) end\n"
    "  local keys, parts = {}, {}\n"
    "  for k in pairs(v) do keys[#keys + 1] = k end\n"
    "  table.sort(keys, function(a, b) return ser(a) < ser(b) end)\n"
    "  for _, k in ipairs(keys) do parts[#parts + 1] = ser(k) .. '=' .. ser(v[k]) end\n"
    "  return '{' .. table.concat(parts, ',') .. '}'\n"
    "end\n"
    /* Not a tail call, so argument errors name the callee 'f' for both implementations. */
    "local function call(f, ...)\n"
    "  local r = table.pack(f(...))\n"
    "  return r\n"
    "end\n"
    "local function run_gmatch(f, args)\n"
    "  local seq = {}\n"
    "  local ok, err = pcall(function()\n"
    "    local it = call(f, table.unpack(args, 1, args.n))[1]\n"
    "    for _ = 1, 300 do\n"
    "      local r = table.pack(it())\n"
    "      seq[#seq + 1] = r\n"
    "      if r[1] == nil then break end\n"
    "    end\n"
    "  end)\n"
    "  return {ok, err, seq}\n"
    "end\n"
    "local function run(impl, fname, src)\n"
    "  local log = {}\n"
    "  local env = setmetatable({log = log}, {__index = _G})\n"
    "  local args = table.pack(assert(load('return ' .. src, '=case', 't', env))())\n"
    "  local r\n"
    "  if fname == 'gmatch' then r = run_gmatch(impl.gmatch, args)\n"
    "  else r = table.pack(pcall(call, impl[fname], table.unpack(args, 1, args.n))) end\n"
    "  return ser(r) .. ' log=' .. ser(log), r[1]\n"
    "end\n"
    "return function(fname, src)\n"
    "  local a, ok = run(stock, fname, src)\n"
    "  local b = run(mine, fname, src)\n"
    "  return a, b, ok\n"
    "end\n";

/* Random short patterns and subjects, compared call by call; returns nil or the first mismatch. */
static const char random_src[] =
    "local stock, mine, seed, rounds = ...\n"
    "math.randomseed(seed)\n"
    "local toks = {'a','b','c','.','%a','%d','%s','%W','[ab]','[^a]','[a-c%d]','(',')','()',\n"
    "  '*','+','-','?','^','$','%b()','%f[%w]','%f[%s]','%1','%2','x','1','(','%'}\n"
    "local chars = {'a','b','c','x','1','2',' ','(',')','-','%'}\n"
    "local function gen(pool, n)\n"
    "  local t = {}\n"
    "  for i = 1, math.random(0, n) do t[i] = pool[math.random(#pool)] end\n"
    "  return table.concat(t)\n"
    "end\n"
    "local function pk(ok, ...)\n"
    "  local t = {tostring(ok)}\n"
    "  for i = 1, select('#', ...) do t[#t + 1] = string.format('%q', (select(i, ...))) end\n"
    "  return table.concat(t, ' ')\n"
    "end\n"
    "local function gm(lib, s, p, init)\n"
    "  local out = {}\n"
    "  local ok, err = pcall(function()\n"
    "    for a, b in lib.gmatch(s, p, init) do\n"
    "      out[#out + 1] = tostring(a) .. '|' .. tostring(b)\n"
    "      if #out > 50 then break end\n"
    "    end\n"
    "  end)\n"
    "  return tostring(ok) .. tostring(err) .. table.concat(out, ',')\n"
    "end\n"
    "for i = 1, rounds do\n"
    "  local s, p, init = gen(chars, 10), gen(toks, 6), math.random(-12, 12)\n"
    "  local rep = ({'<%0>', '%1', '[%2]', '%%'})[math.random(4)]\n"
    "  local cmp = {\n"
    "    {pk(pcall(stock.find, s, p, init)), pk(pcall(mine.find, s, p, init))},\n"
    "    {pk(pcall(stock.match, s, p, init)), pk(pcall(mine.match, s, p, init))},\n"
    "    {gm(stock, s, p, init), gm(mine, s, p, init)},\n"
    "    {pk(pcall(stock.gsub, s, p, rep)), pk(pcall(mine.gsub, s, p, rep))},\n"
    "  }\n"
    "  for k, c in ipairs(cmp) do\n"
    "    if c[1] ~= c[2] then\n"
    "      return string.format('round %d fn %d s=%q p=%q init=%d rep=%q\\n%s\\n%s',\n"
    "        i, k, s, p, init, rep, c[1], c[2])\n"
    "    end\n"
    "  end\n"
    "end\n"
    "return nil\n";

typedef struct Case {
    const char *fn;
    const char *args; /* Lua expression list */
} Case;

/* ---- the corpus ---- */

static const Case find_cases[] = {
    {"find", "'hello world', 'o'"},
    {"find", "'hello world', 'o', 6"},
    {"find", "'hello world', 'o', -3"},
    {"find", "'hello world', 'o', -100"},
    {"find", "'hello world', 'o', 0"},
    {"find", "'hello world', 'o', 100"},
    {"find", "'hello world', 'l', 11"},
    {"find", "'hello', '', 6"},
    {"find", "'hello', '', 7"},
    {"find", "'hello', '', -1"},
    {"find", "'', ''"},
    {"find", "'', 'a'"},
    {"find", "'', '', 2"},
    {"find", "'abc', 'abcd'"},
    {"find", "'aaab', 'aab'"},
    {"find", "'a.b', '.', 1, true"},
    {"find", "'a+b', '+', 1, true"},
    {"find", "'a%b', '%', 1, true"},
    {"find", "'x(y)', '(y)', 1, true"},
    {"find", "'x(y)', '(y)'"},
    {"find", "'a)b', ')'"},
    {"find", "'a]b', ']'"},
    {"find", "'a\\0b\\0c', '\\0c'"},
    {"find", "'a\\0b\\0c', 'b\\0'"},
    {"find", "'a\\0b', '%z'"},
    {"find", "'abc', 'b', 1, false"},
    {"find", "'abc', 'b', nil, 1"},
    {"find", "'hello world', 'w(or)(l)d'"},
    {"find", "'hello world', '()ll()'"},
    {"find", "'hello', '^h'"},
    {"find", "'hello', '^e'"},
    {"find", "'hello', 'o$'"},
    {"find", "'hello', 'l$'"},
    {"find", "'hello', '^hello$'"},
    {"find", "'hello', '^'"},
    {"find", "'hello', '$'"},
    {"find", "'hello', '^', 3"},
    {"find", "'hello', '^l', 3"},
    {"find", "'hello', '^l', -2"},
    {"find", "'a$b', '$b'"},
    {"find", "'a^b', 'a^b'"},
    {"find", "'aaa', 'a-', 2"},
    {"find", "'aaa', 'a*', 4"},
    {"find", "'12ab', '%d+', 1.0"},
    {"find", "'12ab', '%a+', '2'"},
    {"find", "('x'):rep(100) .. 'y', 'x*y'"},
    {"find", "'  trim  ', '^%s*(.-)%s*$'"},
};

static const Case match_cases[] = {
    /* classes and their complements */
    {"match", "'abc123 DEF\\t!?', '%a+'"},
    {"match", "'abc123 DEF\\t!?', '%A+'"},
    {"match", "'ab\\1\\2\\31c', '%c+'"},
    {"match", "'ab\\1\\2\\31c', '%C+'"},
    {"match", "'abc123', '%d+'"},
    {"match", "'123abc', '%D+'"},
    {"match", "' \\t abc def', '%g+'"},
    {"match", "'abc def', '%G+'"},
    {"match", "'ABCdefGHI', '%l+'"},
    {"match", "'abcDEFghi', '%L+'"},
    {"match", "'abc,.;!?def', '%p+'"},
    {"match", "',.;abc', '%P+'"},
    {"match", "'abc \\t\\n\\v\\f\\r def', '%s+'"},
    {"match", "'   abc', '%S+'"},
    {"match", "'abcDEFghi', '%u+'"},
    {"match", "'ABCdefGHI', '%U+'"},
    {"match", "'--abc_123--', '%w+'"},
    {"match", "'abc--', '%W+'"},
    {"match", "'xx0123456789abcdefABCDEFgh', '%x+'"},
    {"match", "'0x1Fg', '%X+'"},
    {"match", "'a.b', '%.'"},
    {"match", "'a%b', '%%'"},
    {"match", "'a-b', '%-'"},
    {"match", "'zZ', '%z'"},
    {"match", "'zZ', '%Z'"},
    {"match", "'a\\200\\255b', '%A+'"},
    {"match", "'\\200\\255', '.+'"},
    {"match", "'a\\nb', '.+'"},
    /* sets */
    {"match", "'hello', '[aeiou]+'"},
    {"match", "'hello', '[^aeiou]+'"},
    {"match", "'xyz123', '[a-z]+'"},
    {"match", "'xyz123', '[0-9]+'"},
    {"match", "'a-b', '[a-]+'"},
    {"match", "'-a', '[-a]+'"},
    {"match", "'a]b', '[]]'"},
    {"match", "'a]b', '[^]]+'"},
    {"match", "'a^b', '[a^]+'"},
    {"match", "'a^b', '[%^]'"},
    {"match", "'x%y', '[%%]'"},
    {"match", "'ab12_', '[%a_]+'"},
    {"match", "'ab12_', '[%d%a]+'"},
    {"match", "'ab12_ ', '[^%s]+'"},
    {"match", "'ab12', '[%D]+'"},
    {"match", "'a-z', '[%a-z]+'"},
    {"match", "'\\200\\220\\255', '[\\128-\\255]+'"},
    {"match", "'zyx', '[z-a]'"},
    {"match", "'a.b', '[.]'"},
    {"match", "'a]', '[%]]'"},
    {"match", "'a[', '[[]'"},
    {"match", "'-', '[%-]'"},
    {"match", "'abc', '[b-b]'"},
    /* quantifiers */
    {"match", "'aaab', 'a*'"},
    {"match", "'aaab', 'a*b'"},
    {"match", "'b', 'a*b'"},
    {"match", "'aaab', 'a+'"},
    {"match", "'b', 'a+'"},
    {"match", "'aaab', 'a-b'"},
    {"match", "'aaab', 'a-'"},
    {"match", "'ab', 'a?b'"},
    {"match", "'b', 'a?b'"},
    {"match", "'aab', 'a?ab'"},
    {"match", "'<a><b>', '<.->'"},
    {"match", "'<a><b>', '<.*>'"},
    {"match", "'a,b,,c', '([^,]*),([^,]*),([^,]*)'"},
    {"match", "'xaaay', 'xa-y'"},
    {"match", "'xaaay', 'x(a*)(a)y'"},
    {"match", "'xaaay', 'x(a-)(a*)y'"},
    {"match", "'abc', '.-$'"},
    {"match", "'abc', 'a.?c'"},
    {"match", "'ac', 'a.?c'"},
    {"match", "'a*', 'a*%*'"},
    {"match", "'**', '%*+'"},
    {"match", "'x+?', 'x%+%?'"},
    /* captures */
    {"match", "'key=value', '(%w+)=(%w+)'"},
    {"match", "'key=value', '^(%w+)=(%w+)$'"},
    {"match", "'key = value', '^(%w+)=(%w+)$'"},
    {"match", "'hello', '()ll()'"},
    {"match", "'hello', '()'"},
    {"match", "'hello', '()', 4"},
    {"match", "'hello', '()', 10"},
    {"match", "'hello', '(h)(e)(l)(l)(o)'"},
    {"match", "'hello', '((h)(e))'"},
    {"match", "'hello', '(h(e(l)))'"},
    {"match", "'hello', '(()e())'"},
    {"match", "'hello', '(.)%1'"},
    {"match", "'abab', '(ab)%1'"},
    {"match", "'abac', '(ab)%1'"},
    {"match", "'x = \"str\" y', '([\"\\'])(.-)%1'"},
    {"match", "'aXbXc', '(%u)(.-)%1'"},
    {"match", "'abcabc', '((a)(b)c)%1'"},
    {"match", "'abcabc', '((a)(b)c)%3'"},
    {"match", "'aa', '()a%1'"},
    {"match", "'hello', ''"},
    {"match", "'', ''"},
    {"match", "'', '()'"},
    {"match", "'', '(.*)'"},
    {"match", "'abc', '^(a)'"},
    {"match", "'abc', '^(b)'"},
    {"match", "'abc', '(c)$'"},
    {"match", "'abc', 'b', -2"},
    {"match", "'abc', 'b', -1"},
    {"match", "'abc', '^b', 2"},
    {"match", "'abc', '', 4"},
    {"match", "'abc', '', 5"},
    {"match", "'abc', '$', 4"},
    /* %b */
    {"match", "'f(a(b)c)d', '%b()'"},
    {"match", "'f(a(b)c', '%b()'"},
    {"match", "'[[x]]', '%b[]'"},
    {"match", "'\"a\" \"b\"', '%b\"\"'"},
    {"match", "'x(a)(b)', '(%b())+'"},
    {"match", "'<<>><>', '%b<>*'"},
    {"match", "'if (a and (b or c)) then', 'if%s*(%b())'"},
    {"match", "')(', '%b()'"},
    /* %f */
    {"match", "'THE (quick) fox', '%f[%a]%a+'"},
    {"match", "'THE (quick) fox', '%f[%a]%a+%f[%A]'"},
    {"match", "'hello world', '%f[%w]%w+', 3"},
    {"match", "'abc', '%f[%z]'"},
    {"match", "'abc', '()%f[%W]'"},
    {"match", "'abc', '%f[^%z]()'"},
    {"match", "'abc', '%f[a]'"},
    {"match", "'abc', '%f[b]'"},
    {"match", "'aaa', '%f[a]a+', 2"},
    {"match", "'1x22', '%f[%d]%d+%f[%D]', 2"},
    /* long subjects: backtracking that runs far must give its depth back */
    {"match", "('a'):rep(300) .. 'b', 'a-$'"},
    {"find", "('a'):rep(300), 'a-$'"},
    {"find", "('a'):rep(500) .. 'b', '.-b'"},
    {"find", "('a'):rep(500) .. 'b', '.-%f[b]()'"},
    {"match", "('ab'):rep(300), '(.-)%1$'"},
    {"match", "('ab'):rep(300) .. 'c', '^(.*)%1c'"},
    {"find", "('(x)'):rep(300), '%b()$'"},
    {"find", "('a'):rep(300), '(a?)(a?)$'"},
    {"match", "('a'):rep(400) .. 'xy', '.-x?y'"},
    {"gsub", "('ab'):rep(300), '.-b', '%0-'"},
    /* depth */
    {"match", "('a'):rep(150), ('a?'):rep(150)"},
    {"match", "('a'):rep(199), ('a?'):rep(199)"},
    {"match", "('a'):rep(10), ('a?'):rep(300)"},
    {"match", "('a'):rep(40), ('(a)'):rep(32)"},
    {"match", "('x'):rep(300), ('x*'):rep(150)"},
};

static const Case gmatch_cases[] = {
    {"gmatch", "'hello world from Lua', '%a+'"},
    {"gmatch", "'k1=v1, k2=v2', '(%w+)=(%w+)'"},
    {"gmatch", "'abc', ''"},
    {"gmatch", "'abc', '()'"},
    {"gmatch", "'', ''"},
    {"gmatch", "'abc', '.-'"},
    {"gmatch", "'abc', 'x*'"},
    {"gmatch", "'aXbXXc', 'X*'"},
    {"gmatch", "'abc', '%a*'"},
    {"gmatch", "'one two  three', '%S+'"},
    {"gmatch", "'hello', '^h'"},
    {"gmatch", "'^a^a', '^a'"},
    {"gmatch", "'hello', 'l$'"},
    {"gmatch", "'hello', 'o$'"},
    {"gmatch", "'hello', '$'"},
    {"gmatch", "'a,b,,c', '([^,]*)'"},
    {"gmatch", "'a1b2c3', '(%a)(%d)'"},
    {"gmatch", "'a1b2c3', '()(%d)()'"},
    {"gmatch", "'hello world', '%a+', 3"},
    {"gmatch", "'hello world', '%a+', -5"},
    {"gmatch", "'hello world', '%a+', -50"},
    {"gmatch", "'hello world', '%a+', 0"},
    {"gmatch", "'hello world', '%a+', 12"},
    {"gmatch", "'hello world', '%a+', 13"},
    {"gmatch", "'hello world', '', 11"},
    {"gmatch", "'hello world', '', 12"},
    {"gmatch", "'(a)(b(c))', '%b()'"},
    {"gmatch", "'THE (quick) fox', '%f[%a]%a+'"},
    {"gmatch", "'aaa', 'a-'"},
    {"gmatch", "'aaa', 'a?'"},
    {"gmatch", "'abab', '(ab)%1'"},
    {"gmatch", "'x\\0y\\0z', '[^%z]+'"},
    {"gmatch", "'x\\0y\\0z', '%Z'"},
};

static const Case gsub_cases[] = {
    {"gsub", "'hello world', 'o', '0'"},
    {"gsub", "'hello world', 'o', '0', 1"},
    {"gsub", "'hello world', 'o', '0', 0"},
    {"gsub", "'hello world', 'o', '0', -1"},
    {"gsub", "'hello world', 'o', '0', 2.0"},
    {"gsub", "'hello world', 'x', '0'"},
    {"gsub", "'hello world', '(o)', '[%1]'"},
    {"gsub", "'hello world', 'o', '[%0]'"},
    {"gsub", "'hello world', 'o', '[%1]'"},
    {"gsub", "'hello world', '(%w+)', '<%1>'"},
    {"gsub", "'hello world', '(%w+) (%w+)', '%2 %1'"},
    {"gsub", "'hello world', '%w+', '%0 %0', 1"},
    {"gsub", "'abc', '%w', '%%'"},
    {"gsub", "'abc', '%w', '%%%0%%'"},
    {"gsub", "'abc', '', '-'"},
    {"gsub", "'abc', '', '-', 2"},
    {"gsub", "'', '', '-'"},
    {"gsub", "'abc', 'x*', '-'"},
    {"gsub", "'abc', '.-', '-'"},
    {"gsub", "'abc', 'b*', '-'"},
    {"gsub", "'abc', '^', '>'"},
    {"gsub", "'abc', '$', '<'"},
    {"gsub", "'abc', '^a', 'A'"},
    {"gsub", "'abc', '^b', 'B'"},
    {"gsub", "'aaa', '^a', 'A'"},
    {"gsub", "'aaa', '^a*', 'A'"},
    {"gsub", "'abc', '^', ''"},
    {"gsub", "'hello', '()', '%1'"},
    {"gsub", "'hello', '()l', '[%1]'"},
    {"gsub", "'hello', 'l()', '%1'"},
    {"gsub", "'hello', 'l', 7"},
    {"gsub", "'hello', 'l', 7.5"},
    {"gsub", "'hello', 'l', 2^63"},
    {"gsub", "'hello world', '%w+', {hello = 'HI', world = false}"},
    {"gsub", "'hello world', '%w+', {hello = 1, world = 2.5}"},
    {"gsub", "'hello world', '(%w+) (%w+)', {hello = 'X'}"},
    {"gsub", "'hello world', '()%w+', {[1] = 'one', [7] = 'seven'}"},
    {"gsub", "'hello world', '%w+', {}"},
    {"gsub", "'a.b.c', '%.', {['.'] = '::'}"},
    {"gsub", "'hello world', '%w+', function(w) log[#log + 1] = w; return w:upper() end"},
    {"gsub", "'hello world', '(%w)(%w*)', function(a, b) log[#log + 1] = a .. '|' .. b; "
             "return b .. a end"},
    {"gsub", "'hello world', '()(%w+)()', function(a, w, b) log[#log + 1] = {a, w, b} end"},
    {"gsub", "'hello world', '%w+', function() return nil end"},
    {"gsub", "'hello world', '%w+', function() return false end"},
    {"gsub", "'hello world', '%w+', function(w) return #w end"},
    {"gsub", "'hello world', '%w+', function(w) return #w / 2 end"},
    {"gsub", "'abc', '', function(...) log[#log + 1] = select('#', ...) end"},
    {"gsub", "'abc', '%w', function(c) log[#log + 1] = c; return c .. c end, 2"},
    {"gsub", "'x = 1, y = 22', '(%w+) = (%d+)', '%2 = %1'"},
    {"gsub", "'f(a(b)c)d', '%b()', '[]'"},
    {"gsub", "'THE (quick) fox', '%f[%a]%a+', 'W'"},
    {"gsub", "'THE (quick) fox', '%f[%a]', '|'"},
    {"gsub", "'THE (quick) fox', '%f[%A]', '|'"},
    {"gsub", "'abc', '%f[%a]', '>', 0"},
    {"gsub", "'  trim me  ', '^%s*(.-)%s*$', '%1'"},
    {"gsub", "'one  two', '%s+', ' '"},
    {"gsub", "'abcabc', '(a)(b)(c)', '%3%2%1'"},
    {"gsub", "'abcabc', '((a)(b)(c))', '%4%3%2%1'"},
    {"gsub", "'a\\0b', '%z', 'Z'"},
    {"gsub", "'a\\0b', '\\0', '<%0>'"},
    {"gsub", "'abc', '.', {a = 'x'}, 1"},
    {"gsub", "'hello', 'l+', '%0%0'"},
    {"gsub", "'hello', '(l)(l)', '%2%1'"},
    {"gsub", "('ab'):rep(50), 'ab', 'x'"},
    {"gsub", "'abc', '%w', '%%1'"},
    {"gsub", "'abc', 'b', '%%'"},
    {"gsub", "'aaa', 'a', 'b', 2.0"},
};

/* Every one of these raises in stock Lua; the messages must be the same. */
static const Case error_cases[] = {
    {"find", "'abc', '%'"},
    {"find", "'abc', 'a%'"},
    {"find", "'abc', '[a'"},
    {"find", "'abc', '[a%'"},
    {"find", "'abc', '[a%]'"},
    {"find", "'abc', '[^'"},
    {"find", "'abc', '[^]'"},
    {"find", "'abc', '[]'"},
    {"find", "'abc', '['"},
    {"match", "'abc', '(a'"},
    {"match", "'abc', 'a('"},
    {"match", "'abc', 'a)'"},
    {"find", "'abc', '(a))'"},
    {"match", "'abc', '%1'"},
    {"match", "'abc', '%0'"},
    {"match", "'abc', '(a)%2'"},
    {"match", "'abc', '(a%1)'"},
    {"match", "'abc', '%f'"},
    {"match", "'abc', '%fa'"},
    {"match", "'abc', '%f[a'"},
    {"match", "'abc', '%b'"},
    {"match", "'abc', '%ba'"},
    {"match", "('a'):rep(200), ('a?'):rep(200)"},
    {"match", "('a'):rep(300), ('a?'):rep(300)"},
    {"match", "('a'):rep(300), ('(a)'):rep(201)"},
    {"match", "'abc', ('()'):rep(33)"},
    {"match", "('a'):rep(40), ('(a)'):rep(33)"},
    {"find", "nil, 'a'"},
    {"find", "'abc'"},
    {"find", "'abc', {}"},
    {"find", "'abc', 'b', 'x'"},
    {"find", "'abc', 'b', 1.5"},
    {"match", "'abc', 'b', {}"},
    {"match", "{}, 'b'"},
    {"gmatch", "'abc'"},
    {"gmatch", "'abc', 'b', 1.5"},
    {"gmatch", "'abc', '[a'"},
    {"gmatch", "'abc', '(a'"},
    {"gmatch", "'abc', 'a)'"},
    {"gmatch", "'abc', '%2'"},
    {"gsub", "'abc', 'b'"},
    {"gsub", "'abc', 'b', nil"},
    {"gsub", "'abc', 'b', true"},
    {"gsub", "'abc', 'b', 'x', 'y'"},
    {"gsub", "'abc', 'b', nil, 'y'"},
    {"gsub", "'abc', 'b', 'x', 1.5"},
    {"gsub", "nil, 'b', 'x'"},
    {"gsub", "'abc', nil, 'x'"},
    {"gsub", "'abc', 'b', '%'"},
    {"gsub", "'abc', 'b', 'x%'"},
    {"gsub", "'abc', 'b', '%x'"},
    {"gsub", "'abc', 'b', '%2'"},
    {"gsub", "'abc', '(b)', '%2'"},
    {"gsub", "'abc', '(b)', '%9'"},
    {"gsub", "'abc', '(b', '%1'"},
    {"gsub", "'abc', '(b', {}"},
    {"gsub", "'abc', '(b', function() end"},
    {"gsub", "'abc', 'b', {b = {}}"},
    {"gsub", "'abc', 'b', function() return true end"},
    {"gsub", "'abc', 'b', function() return {} end"},
    {"gsub", "'abc', 'b', function() error('boom') end"},
    {"gsub", "'abc', 'b', function() error({}) end"},
    {"gsub", "'abc', '[b', 'x'"},
    {"gsub", "'abc', '%f', 'x'"},
    {"gsub", "'abc', ('()'):rep(40), 'x'"},
};

/* ---- fixtures ---- */

typedef struct Fixture {
    lua_State *L;
    Charges charges;
    int driver; /* registry reference */
} Fixture;

/* A plain state with stock 'string' and our four functions in global 'wk'. */
static lua_State *new_state(Charges *c) {
    lua_State *L = luaL_newstate();

    assert_non_null(L);
    luaL_openlibs(L);
    lua_newtable(L);
    wk_pattern_install(L, -1, charge, c);
    lua_setglobal(L, "wk");
    return L;
}

static int setup(void **state) {
    static Fixture fx;

    memset(&fx, 0, sizeof fx);
    fx.charges.limit = UINT64_MAX;
    fx.L = new_state(&fx.charges);
    assert_int_equal(luaL_loadstring(fx.L, driver_src), LUA_OK);
    lua_getglobal(fx.L, "string");
    lua_getglobal(fx.L, "wk");
    lua_call(fx.L, 2, 1);
    fx.driver = luaL_ref(fx.L, LUA_REGISTRYINDEX);
    *state = &fx;
    return 0;
}

static int teardown(void **state) {
    Fixture *fx = *state;

    lua_close(fx->L);
    return 0;
}

/* Runs 'src' in 'L'; returns its status and leaves its first result or error on the stack. */
static int run(lua_State *L, const char *src) {
    int rc = luaL_loadstring(L, src);

    assert_int_equal(rc, LUA_OK);
    return lua_pcall(L, 0, 1, 0);
}

/* ---- differential tests ---- */

/* Runs 'cases' through the driver: stock and ours must agree, and stock must raise exactly when
   'want_error' says so (a case that does not test what it claims is a broken case). */
static void check_cases(Fixture *fx, const Case *cases, size_t n, int want_error) {
    size_t i;

    for (i = 0; i < n; i++) {
        const char *stock, *mine;
        int stock_ok;

        lua_rawgeti(fx->L, LUA_REGISTRYINDEX, fx->driver);
        lua_pushstring(fx->L, cases[i].fn);
        lua_pushstring(fx->L, cases[i].args);
        if (lua_pcall(fx->L, 2, 3, 0) != LUA_OK)
            fail_msg("driver failed on %s(%s): %s", cases[i].fn, cases[i].args,
                     lua_tostring(fx->L, -1));
        stock = lua_tostring(fx->L, -3);
        mine = lua_tostring(fx->L, -2);
        stock_ok = lua_toboolean(fx->L, -1);
        if (strcmp(stock, mine) != 0 || stock_ok == want_error)
            print_error("case %zu: %s(%s)\n", i, cases[i].fn, cases[i].args);
        assert_string_equal(stock, mine);
        assert_int_equal(stock_ok, !want_error);
        lua_pop(fx->L, 3);
    }
}

static void test_find_corpus(void **state) {
    check_cases(*state, find_cases, sizeof find_cases / sizeof *find_cases, 0);
}

static void test_match_corpus(void **state) {
    check_cases(*state, match_cases, sizeof match_cases / sizeof *match_cases, 0);
}

static void test_gmatch_corpus(void **state) {
    check_cases(*state, gmatch_cases, sizeof gmatch_cases / sizeof *gmatch_cases, 0);
}

static void test_gsub_corpus(void **state) {
    check_cases(*state, gsub_cases, sizeof gsub_cases / sizeof *gsub_cases, 0);
}

static void test_error_corpus(void **state) {
    check_cases(*state, error_cases, sizeof error_cases / sizeof *error_cases, 1);
}

static void test_corpus_is_large(void **state) {
    size_t n = sizeof find_cases / sizeof *find_cases + sizeof match_cases / sizeof *match_cases +
               sizeof gmatch_cases / sizeof *gmatch_cases + sizeof gsub_cases / sizeof *gsub_cases +
               sizeof error_cases / sizeof *error_cases;

    (void)state;
    assert_true(n >= 150);
}

static void test_random_patterns(void **state) {
    Fixture *fx = *state;
    lua_State *L = fx->L;

    assert_int_equal(luaL_loadstring(L, random_src), LUA_OK);
    lua_getglobal(L, "string");
    lua_getglobal(L, "wk");
    lua_pushinteger(L, 20240229);
    lua_pushinteger(L, 20000);
    if (lua_pcall(L, 4, 1, 0) != LUA_OK)
        fail_msg("random driver failed: %s", lua_tostring(L, -1));
    if (!lua_isnil(L, -1))
        fail_msg("%s", lua_tostring(L, -1));
    lua_pop(L, 1);
}

/* The harness must be comparing two different things that can differ. */
static void test_harness_is_not_vacuous(void **state) {
    Fixture *fx = *state;
    lua_State *L = fx->L;

    assert_int_equal(run(L, "return wk.find ~= string.find and wk.gsub ~= string.gsub"), LUA_OK);
    assert_true(lua_toboolean(L, -1));
    lua_pop(L, 1);
    assert_int_equal(run(L, "local a, b, c, d = wk.find('key=value', '(%w+)=()')\n"
                            "local s, n = wk.gsub('hello world', '(%w+)', '<%1>')\n"
                            "local t = {}\n"
                            "for k, v in wk.gmatch('a=1, b=2', '(%w+)=(%w+)') do\n"
                            "  t[#t + 1] = k .. v\n"
                            "end\n"
                            "return table.concat({a, b, c, d, s, n, table.concat(t, ';')}, ' ')"),
                     LUA_OK);
    assert_string_equal(lua_tostring(L, -1), "1 4 key 5 <hello> <world> 2 a1;b2");
    lua_pop(L, 1);
}

/* ---- the budget ---- */

/* The abort raises the charge's message, with the position of the calling Lua code in front as
   luaL_error puts it, like every other error from the string library. */
static void assert_abort_message(const char *msg) {
    size_t n = strlen(msg), k = strlen(ABORT_MSG);

    assert_true(n >= k);
    assert_string_equal(msg + n - k, ABORT_MSG);
    assert_true(n == k || strncmp(msg, "[string ", 8) == 0);
}

static void test_budget_stops_pathological_find(void **state) {
    Charges c = {.limit = 10 * 1000 * 1000};
    lua_State *L = new_state(&c);

    (void)state;
    assert_int_equal(run(L, "return wk.find(('a'):rep(1000), '.-.-.-b')"), LUA_ERRRUN);
    assert_abort_message(lua_tostring(L, -1));
    assert_true(c.total >= c.limit);
    assert_true(c.total < c.limit + 2048);
    assert_int_equal(c.odd_calls, 0);
    lua_close(L);
}

/* Each entry point stops on the same budget, including deep inside captures and gsub. */
static void test_budget_stops_every_entry_point(void **state) {
    static const char *const scripts[] = {
        "return wk.match(('a'):rep(1000), '(.-)(.-)(.-)b')",
        "for x in wk.gmatch(('a'):rep(1000), '.-.-.-b') do end",
        "return wk.gsub(('a'):rep(1000), '.-.-.-b', 'x')",
        "local s = ('a'):rep(300) return wk.gsub(s, 'a', function() wk.find(s, '.-.-b') end)",
        "return wk.find(('a'):rep(100000), ('a'):rep(5000) .. 'b', 1, true)",
        "return wk.find(('('):rep(20000), '%b()')",
        "return wk.find(('a'):rep(100000), '(.*)%1%1b')",
        "return wk.find(('b'):rep(20000), '[' .. ('a'):rep(50000) .. ']')",
    };
    size_t i;

    (void)state;
    for (i = 0; i < sizeof scripts / sizeof *scripts; i++) {
        Charges c = {.limit = 2 * 1000 * 1000};
        lua_State *L = new_state(&c);
        int rc = run(L, scripts[i]);

        if (rc != LUA_ERRRUN)
            print_error("script %zu: %s\n", i, scripts[i]);
        assert_int_equal(rc, LUA_ERRRUN);
        assert_abort_message(lua_tostring(L, -1));
        assert_true(c.total >= c.limit);
        lua_close(L);
    }
}

static void test_budget_allows_small_work(void **state) {
    Charges c = {.limit = 10 * 1000 * 1000};
    lua_State *L = new_state(&c);

    (void)state;
    assert_int_equal(run(L, "return select('#', wk.find(('a'):rep(30), '.-.-.-b')) == 1 and "
                            "wk.find(('a'):rep(30), '.-.-.-b') == nil and "
                            "wk.find(('a'):rep(30) .. 'b', '.-.-.-b') == 1"),
                     LUA_OK);
    assert_true(lua_toboolean(L, -1));
    assert_true(c.calls > 0);       /* the work was counted... */
    assert_true(c.total < c.limit); /* ...and stayed inside the budget */
    lua_close(L);
}

/* The step counts for simple scans are exact: a match attempt that fails on its first item is two
   steps (enter the matcher, test one byte), a plain find one step per byte it passes over. */
static void test_charge_counts_steps(void **state) {
    Charges c = {.limit = UINT64_MAX};
    lua_State *L = new_state(&c);

    (void)state;
    /* 524288 start positions (every byte and the end) x 2 steps = 1024 full batches. */
    assert_int_equal(run(L, "return wk.match(('a'):rep(524287), 'b')"), LUA_OK);
    assert_true(lua_isnil(L, -1));
    lua_pop(L, 1);
    assert_int_equal(c.calls, 1024);
    assert_int_equal(c.total, 1024ull * 1024);
    assert_int_equal(c.odd_calls, 0);

    /* 1000 steps stay pending across calls; 24 more complete the next batch. */
    assert_int_equal(run(L, "return wk.find(('a'):rep(1000), 'b')"), LUA_OK);
    lua_pop(L, 1);
    assert_int_equal(c.calls, 1024);
    assert_int_equal(run(L, "return wk.find(('a'):rep(23), 'b')"), LUA_OK);
    lua_pop(L, 1);
    assert_int_equal(c.calls, 1024);
    assert_int_equal(run(L, "return wk.find('a', 'b')"), LUA_OK);
    lua_pop(L, 1);
    assert_int_equal(c.calls, 1025);
    assert_int_equal(c.total, 1025ull * 1024);

    /* gmatch: 512 start positions x 2 steps, spread over one iterator call. */
    assert_int_equal(run(L, "for _ in wk.gmatch(('a'):rep(511), 'b') do end"), LUA_OK);
    lua_pop(L, 1);
    assert_int_equal(c.calls, 1026);
    assert_int_equal(c.odd_calls, 0);
    lua_close(L);
}

/* Runs 'script' and checks that it cost exactly 'steps': the batches it completed were charged,
   and the remainder it left pending is exactly what a plain find of 1024 - remainder bytes (one
   step a byte) completes. Expects nothing pending before; leaves nothing pending. */
static void assert_cost(lua_State *L, Charges *c, const char *script, unsigned long long steps) {
    unsigned long long before = c->total;
    unsigned rest = (unsigned)(steps % WK_PATTERN_CHARGE_EVERY);
    char probe[96];

    if (run(L, script) != LUA_OK)
        fail_msg("%s: %s", script, lua_tostring(L, -1));
    lua_pop(L, 1);
    if (c->total - before != steps - rest)
        print_error("script: %s\n", script);
    assert_int_equal(c->total - before, steps - rest);
    if (rest == 0)
        return;
    snprintf(probe, sizeof probe, "return wk.find(('a'):rep(%u), 'b')",
             WK_PATTERN_CHARGE_EVERY - rest - 1);
    assert_int_equal(run(L, probe), LUA_OK);
    lua_pop(L, 1);
    if (c->total - before != steps - rest)
        print_error("script cost more: %s\n", script);
    assert_int_equal(c->total - before, steps - rest); /* one step short of a batch */
    assert_int_equal(run(L, "return wk.find('a', 'b')"), LUA_OK);
    lua_pop(L, 1);
    if (c->total - before != steps - rest + WK_PATTERN_CHARGE_EVERY)
        print_error("script cost less: %s\n", script);
    assert_int_equal(c->total - before, steps - rest + WK_PATTERN_CHARGE_EVERY);
}

/* The cost of each kind of item, worked out by hand from the step rules in wk_pattern.c. */
static void test_charge_counts_each_item(void **state) {
    Charges c = {.limit = UINT64_MAX};
    lua_State *L = new_state(&c);

    (void)state;
    /* Greedy: at start i < 63, enter + test + (63 - i) more tests + 63 - i + 1 retries of 'b' at
       2 steps each; at the end, enter + 'a*' + 'b' tests. Sum 3 * 63 * 64 / 2 + 4 * 63 + 3. */
    assert_cost(L, &c, "assert(wk.match(('a'):rep(63), 'a*b') == nil)", 6303);
    /* Lazy: enter + test 'a', then per 'a' taken a try of 'b' (2) and a test of 'a' (1), then
       the final try of 'b' (2). */
    assert_cost(L, &c, "assert(wk.match('aaab', 'a-b') == 'aaab')", 13);
    /* A set of 32 bytes costs 1 + 32 / 8 per test: 100 starts x (enter + 5). */
    assert_cost(L, &c, "assert(wk.match(('x'):rep(99), '[' .. ('a'):rep(30) .. ']') == nil)", 600);
    /* Captures enter the matcher again: enter, '(' enters, 3 tests, ')' enters, %1 costs its
       length + 1. */
    assert_cost(L, &c, "assert(wk.match('abcabc', '(abc)%1') == 'abc')", 10);
    /* %b: enter, 1 for the opening byte, 1 per byte scanned after it. */
    assert_cost(L, &c, "assert(wk.find('(a(b)c)', '%b()') == 1)", 8);
    /* %f: enter, two set tests (the bytes before and at the position), one test of 'a'. */
    assert_cost(L, &c, "assert(wk.find('a', '%f[%a]a') == 1)", 4);
    /* gsub: 12 tries (each byte and the end) x 2. */
    assert_cost(L, &c, "assert(wk.gsub('hello world', 'o', '0') == 'hell0 w0rld')", 24);
    /* A plain find: one step per byte passed over, plus the needle's length per candidate:
       "xx" then the candidate at 3, "xx" then the one at 6. */
    assert_cost(L, &c, "assert(wk.find('xxaxxab', 'ab', 1, true) == 6)", (2 + 2) + (2 + 2));
    assert_int_equal(c.odd_calls, 0);
    lua_close(L);
}

/* Steps of calls nested in a gsub replacement function are charged once, not lost or doubled, and a
   back-reference to a position capture costs nothing extra (it never matches). */
static void test_charge_counts_nested_calls(void **state) {
    Charges c = {.limit = UINT64_MAX};
    lua_State *L = new_state(&c);

    (void)state;
    /* Outer: 255 matches and one failed try at the end, 2 steps each. Inner: 255 calls failing
       at 256 start positions, 2 steps each, half a batch per call. 128 batches, none left. */
    assert_int_equal(run(L, "local hay = ('a'):rep(255)\n"
                            "return wk.gsub(('a'):rep(255), 'a', function()\n"
                            "  assert(wk.match(hay, 'b') == nil)\n"
                            "end)"),
                     LUA_OK);
    lua_pop(L, 1);
    assert_int_equal(c.calls, 128);
    assert_int_equal(c.total, 128ull * 1024);
    assert_int_equal(c.odd_calls, 0);
    assert_int_equal(run(L, "for _ = 1, 100 do assert(wk.match('aa', '()a%1') == nil) end"),
                     LUA_OK);
    lua_pop(L, 1);
    assert_int_equal(c.calls, 128);
    lua_close(L);
}

/* A pcall does not reset the budget, and the abort leaves no state behind. */
static void test_abort_is_repeatable(void **state) {
    Charges c = {.limit = 1000 * 1000};
    lua_State *L = new_state(&c);

    (void)state;
    assert_int_equal(run(L, "local ok, err = pcall(wk.find, ('a'):rep(500), '.-.-.-b')\n"
                            "assert(not ok and err:find('" ABORT_MSG "', 1, true))\n"
                            "return wk.find(('a'):rep(500), '.-.-.-b')"),
                     LUA_ERRRUN);
    assert_abort_message(lua_tostring(L, -1));
    lua_pop(L, 1);
    c.limit = UINT64_MAX;
    assert_int_equal(run(L, "return wk.match('key=value', '^(%w+)=')"), LUA_OK);
    assert_string_equal(lua_tostring(L, -1), "key");
    lua_close(L);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_corpus_is_large),
        cmocka_unit_test_setup_teardown(test_harness_is_not_vacuous, setup, teardown),
        cmocka_unit_test_setup_teardown(test_find_corpus, setup, teardown),
        cmocka_unit_test_setup_teardown(test_match_corpus, setup, teardown),
        cmocka_unit_test_setup_teardown(test_gmatch_corpus, setup, teardown),
        cmocka_unit_test_setup_teardown(test_gsub_corpus, setup, teardown),
        cmocka_unit_test_setup_teardown(test_error_corpus, setup, teardown),
        cmocka_unit_test_setup_teardown(test_random_patterns, setup, teardown),
        cmocka_unit_test(test_budget_stops_pathological_find),
        cmocka_unit_test(test_budget_stops_every_entry_point),
        cmocka_unit_test(test_budget_allows_small_work),
        cmocka_unit_test(test_charge_counts_steps),
        cmocka_unit_test(test_charge_counts_each_item),
        cmocka_unit_test(test_charge_counts_nested_calls),
        cmocka_unit_test(test_abort_is_repeatable),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
