-- examples/lua/workload.lua: a table- and string-heavy script with a known result.
-- Makes N pseudo-random words, counts them in a table, keeps a record table per distinct word,
-- builds a report string out of the most frequent ones and hashes it. Runs under lua_fastalloc.c
-- (which sets the global N) and under the stock interpreter: lua5.4 workload.lua [N].
local n = N or tonumber(arg and arg[1]) or 200000
local syllables = { "ka", "lo", "mi", "ne", "ru", "sa", "ti", "vo", "xu", "ze", "pha", "stro" }
local seed = 12345
local function rand(m)            -- a 31-bit LCG: the same numbers under every allocator
  seed = (seed * 1103515245 + 12345) & 0x7fffffff
  return (seed >> 12) % m
end

local count, records, order = {}, {}, {}
for i = 1, n do
  local parts = {}
  for j = 1, 1 + rand(4) do parts[j] = syllables[1 + rand(#syllables)] end
  local word = table.concat(parts)
  local c = count[word]
  if c == nil then
    order[#order + 1] = word
    records[word] = { word = word, first = i, tags = { string.upper(word), word:reverse() } }
    c = 0
  end
  count[word] = c + 1
  if i % 1000 == 0 then           -- strings that become garbage at once
    local line = string.format("%d:%s:%d", i, word, c)
    count[line] = nil
  end
end

table.sort(order, function(a, b)
  if count[a] ~= count[b] then return count[a] > count[b] end
  return a < b
end)
local lines = {}
for i = 1, math.min(#order, 2000) do
  local r = records[order[i]]
  lines[i] = string.format("%s=%d@%d[%s|%s]", r.word, count[r.word], r.first, r.tags[1], r.tags[2])
end
local report = table.concat(lines, "\n")
local h = 0
for i = 1, #report do h = (h * 31 + report:byte(i)) & 0xffffffff end
local result = string.format("%d words, %d distinct, report %d bytes, hash %08x", n, #order, #report, h)
if arg then print(result) end
return result
