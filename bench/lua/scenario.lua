-- One wrk scenario, configured from the environment (bench/drive.py sets it):
--
--   BENCH_TARGETS  file of "METHOD<TAB>PATH<TAB>BODY" lines (BODY may be empty); each thread
--                  takes its own share (line i goes to thread i mod BENCH_THREADS) and walks
--                  it in order, wrapping around (counted as "wrapped": a POST body sent twice)
--   BENCH_THREADS  the -t value
--   BENCH_COOKIE   Cookie header (optional)
--   BENCH_AUTHORIZATION  Authorization header (optional: an API token)
--   BENCH_EXPECT   the expected status (200, or 302 for the feedback POST)
--   BENCH_LOCATION for 302s: the Location must contain this text (optional)
--   BENCH_OUT      where done() writes the JSON result
--
-- Every response's status is counted; a status other than BENCH_EXPECT (or a redirect
-- elsewhere than BENCH_LOCATION) is an error, like wrk's own socket errors and timeouts.
-- What follows BENCH_LOCATION in each redirect is written to BENCH_OUT.tokens.

local threads = {}
local created = 0

function setup(thread)
  thread:set("tid", created)
  created = created + 1
  table.insert(threads, thread)
end

local targets = {}
local position = 0
local headers = {}
local expect, location
statuses = {}
unexpected = 0
wrapped = 0
tokens = {}  -- from the Location of each expected redirect (the feedback's tracking token)

local function split(line)
  local method, path, body = line:match("^([^\t]*)\t([^\t]*)\t?(.*)$")
  return method, path, body
end

function init(args)
  local nthreads = tonumber(os.getenv("BENCH_THREADS") or "1")
  local file = assert(os.getenv("BENCH_TARGETS"), "BENCH_TARGETS is not set")
  local lines = {}
  for line in io.lines(file) do
    if #line > 0 then lines[#lines + 1] = line end
  end
  -- Fewer targets than threads (a single URL): every thread sends them all.
  local share = #lines >= nthreads
  for i, line in ipairs(lines) do
    if not share or (i - 1) % nthreads == tid then
      local method, path, body = split(line)
      targets[#targets + 1] = { method = method, path = path, body = body }
    end
  end
  assert(#targets > 0, "no targets for thread " .. tid)
  headers["Accept-Encoding"] = "gzip, br"
  headers["User-Agent"] = "portal-bench/wrk"
  local cookie = os.getenv("BENCH_COOKIE")
  if cookie and #cookie > 0 then headers["Cookie"] = cookie end
  local authorization = os.getenv("BENCH_AUTHORIZATION")
  if authorization and #authorization > 0 then headers["Authorization"] = authorization end
  expect = tonumber(os.getenv("BENCH_EXPECT") or "200")
  location = os.getenv("BENCH_LOCATION")
  if location == "" then location = nil end
  -- Pre-format every request once: request() then only hands out strings.
  for _, t in ipairs(targets) do
    local h = {}
    for k, v in pairs(headers) do h[k] = v end
    local body = nil
    if t.body and #t.body > 0 then
      body = t.body
      h["Content-Type"] = "application/x-www-form-urlencoded"
    end
    t.raw = wrk.format(t.method, t.path, h, body)
  end
end

function request()
  position = position + 1
  if position > #targets then
    position = 1
    wrapped = wrapped + 1
  end
  return targets[position].raw
end

function response(status, hdrs, body)
  statuses[status] = (statuses[status] or 0) + 1
  if status ~= expect then
    unexpected = unexpected + 1
  elseif location then
    local target = hdrs["Location"] or hdrs["location"] or ""
    local at = string.find(target, location, 1, true)
    if at then
      tokens[#tokens + 1] = string.sub(target, at + #location):gsub("/$", "")
    else
      unexpected = unexpected + 1
    end
  end
end

local function json_table(t)
  local parts = {}
  for k, v in pairs(t) do parts[#parts + 1] = string.format('"%s": %d', tostring(k), v) end
  return "{" .. table.concat(parts, ", ") .. "}"
end

function done(summary, latency, requests)
  local all, bad, wraps = {}, 0, 0
  local path = assert(os.getenv("BENCH_OUT"))
  local tokens_out = assert(io.open(path .. ".tokens", "w"))
  for _, thread in ipairs(threads) do
    local s = thread:get("statuses") or {}
    for k, v in pairs(s) do all[k] = (all[k] or 0) + v end
    bad = bad + (thread:get("unexpected") or 0)
    wraps = wraps + (thread:get("wrapped") or 0)
    for _, token in ipairs(thread:get("tokens") or {}) do tokens_out:write(token, "\n") end
  end
  tokens_out:close()
  local e = summary.errors
  local out = assert(io.open(path, "w"))
  out:write(string.format(
    '{"requests": %d, "duration_us": %d, "bytes": %d, ' ..
    '"socket_errors": {"connect": %d, "read": %d, "write": %d, "timeout": %d}, ' ..
    '"non_2xx_3xx": %d, "unexpected": %d, "wrapped": %d, "statuses": %s, ' ..
    '"latency_us": {"p50": %d, "p90": %d, "p99": %d, "max": %d, "mean": %.1f, "stdev": %.1f}}\n',
    summary.requests, summary.duration, summary.bytes,
    e.connect, e.read, e.write, e.timeout, e.status, bad, wraps, json_table(all),
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max,
    latency.mean, latency.stdev))
  out:close()
end
