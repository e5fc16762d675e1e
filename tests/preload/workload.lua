-- workload.lua — table- and string-heavy Lua workload for the LD_PRELOAD checks and benchmark.
-- Every printed value follows from a formula; run.sh holds the expected output.
-- lua5.4 workload.lua [N [T]]: N keys (default 200000), trees of 2^(T-d) iterations (default T = 18);
-- tests/preload/tools.sh runs it small under valgrind. N must be coprime to P.
local N = tonumber(arg and arg[1]) or 200000
local T = tonumber(arg and arg[2]) or 18
local P = 7919                     -- P is prime and coprime to N: i*P % N permutes 0..N-1

-- 1. a table of formatted strings filled in a scrambled order, sorted, checked, concatenated.
local t = {}
for i = 0, N - 1 do t[#t + 1] = string.format("k%06d", (i * P) % N) end
table.sort(t, function(a, b) return a > b end)
local bad = 0
for i = 1, N do if t[i] ~= string.format("k%06d", N - i) then bad = bad + 1 end end
local s = table.concat(t, ",")
print("sorted", #t, "bad", bad, "concat", #s)

-- 2. a string-keyed hash table with nested tables, then a sum over it.
local h = {}
for i = 1, N do h["key" .. i] = { i, tostring(i * 2), { i % 3 } } end
local sum, cnt = 0, 0
for k, v in pairs(h) do sum = sum + v[1] + #v[2] + v[3][1]; cnt = cnt + 1 end
print("hash", cnt, sum)
h = nil

-- 3. binary trees: allocate and walk many short-lived trees, collecting garbage in between.
local function make(d)
  if d == 0 then return {} end
  return { make(d - 1), make(d - 1) }
end
local function check(n)
  if n[1] then return 1 + check(n[1]) + check(n[2]) end
  return 1
end
local nodes = 0
for d = 4, 14, 2 do
  local iters = 2 ^ (T - d)
  for _ = 1, iters do nodes = nodes + check(make(d)) end
  collectgarbage()
end
print("trees", math.tointeger(nodes))

-- 4. string building by repeated concatenation (each step makes a new string).
local acc, total = "", 0
for i = 1, 20000 do
  acc = acc .. tostring(i % 10)
  if #acc >= 1000 then total = total + #acc; acc = "" end
end
print("strings", total, #acc)
collectgarbage()

-- run.sh sets FA_MAPS_OUT to learn which libraries this process has mapped (is the preload in?).
local out = os.getenv("FA_MAPS_OUT")
if out then
  local src, dst = io.open("/proc/self/maps"), io.open(out, "w")
  dst:write(src:read("a")); src:close(); dst:close()
end
