local function depth(n)
  if n == 0 then return 0 end
  return 1 + depth(n - 1)
end

local mode = arg[1]
if mode == "sort" then
  local n = io.read("n")
  local a = {}
  for i = 1, n do a[i] = io.read("n") end
  table.sort(a)
  io.write(table.concat(a, " "), "\n")
elseif mode == "deep" then
  print("depth " .. depth(100000))
elseif mode == "stdin" then
  local f = assert(io.open("/dev/stdin"))
  local sum = 0
  for x in f:read("a"):gmatch("%-?%d+") do sum = sum + tonumber(x) end
  print("sum " .. sum)
elseif mode == "file" then
  local f, err = io.open(arg[2])
  if not f then print("refused " .. err) os.exit(1) end
  print("read " .. f:read("l"))
elseif mode == "socket" then
  -- Lua's standard library has no sockets; the forbidden action is running a command.
  local ok = os.execute("true")
  print(ok and "socket ok" or "refused")
end
