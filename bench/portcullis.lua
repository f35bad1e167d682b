-- wrk script for Portcullis. Env:
--   BENCH_MODE   live | session | refresh | signin | introspect | chain (one
--                session's refresh chain on one connection; a refusal retries)
--   BENCH_DATA   file, one item per line: access tokens (session, introspect), refresh
--                tokens (refresh) or emails (signin)
--   BENCH_PASS   password of the seeded users
--   BENCH_LABEL  echoed in the JSON result line
--   BENCH_BASIC  base64 of a service client's "client_id:secret" (introspect)
-- done() prints one JSON line: rps, p50/p90/p99/max (ms), errors, non-2xx.
local mode  = os.getenv("BENCH_MODE") or "live"
local data  = os.getenv("BENCH_DATA"); if data == "" then data = nil end
local pass  = os.getenv("BENCH_PASS") or "correct horse battery staple"
local label = os.getenv("BENCH_LABEL") or mode

local threads = {}
function setup(thread)
  table.insert(threads, thread)
  thread:set("tid", #threads)
end

local items, nitems, i = {}, 0, 0
-- global, not local: done() reads it from each thread with thread:get()
non2xx = 0
-- 503 answers, and those of them with a Retry-After header
s503, s503ra = 0, 0
-- refresh mode: tokens not currently in flight; each response returns the next one
local pool, head, tail = {}, 1, 0

function init(args)
  if data then
    for line in io.lines(data) do
      if #line > 0 then nitems = nitems + 1; items[nitems] = line end
    end
  end
  if mode == "refresh" then
    -- threads get disjoint slices: one token must never be in two places
    local n = #threads > 0 and #threads or 1
    for k = (tid or 1), nitems, n do tail = tail + 1; pool[tail] = items[k] end
  end
  i = ((tid or 1) - 1) * 7919
end

local json = { ["Content-Type"] = "application/json", ["User-Agent"] = "wrk-portcullis-bench/1" }

if mode == "live" then
  wrk.method = "GET"
  wrk.path = "/health/live"
elseif mode == "session" then
  local h = { ["User-Agent"] = "wrk-portcullis-bench/1" }
  function request()
    i = i + 1
    h["Authorization"] = "Bearer " .. items[(i % nitems) + 1]
    return wrk.format("GET", "/v1/sessions/current", h, nil)
  end
elseif mode == "introspect" then
  local h = {
    ["Content-Type"] = "application/x-www-form-urlencoded",
    ["Authorization"] = "Basic " .. (os.getenv("BENCH_BASIC") or ""),
    ["User-Agent"] = "wrk-portcullis-bench/1",
  }
  function request()
    i = i + 1
    return wrk.format("POST", "/v1/introspect", h, "token=" .. items[(i % nitems) + 1])
  end
elseif mode == "signin" then
  function request()
    i = i + 1
    local body = string.format('{"email":"%s","password":"%s"}', items[(i % nitems) + 1], pass)
    return wrk.format("POST", "/v1/sessions", json, body)
  end
elseif mode == "chain" then
  -- One connection (-c1) walking one session's chain: a refused refresh is
  -- retried with the same token (the outage script: nothing was rotated).
  local current = nil
  function request()
    current = current or items[1]
    return wrk.format("POST", "/v1/sessions/refresh", json, '{"refresh_token":"' .. current .. '"}')
  end
  function response(status, headers, body)
    if status ~= 200 then non2xx = non2xx + 1 end
    if status == 503 then
      s503 = s503 + 1
      if headers["Retry-After"] or headers["retry-after"] then s503ra = s503ra + 1 end
    end
    local token = body and string.match(body, '"refresh_token":"([^"]+)"')
    if status == 200 and token then current = token end
  end
elseif mode == "refresh" then
  function request()
    if head > tail then error("refresh token pool ran dry") end
    local token = pool[head]; pool[head] = nil; head = head + 1
    return wrk.format("POST", "/v1/sessions/refresh", json, '{"refresh_token":"' .. token .. '"}')
  end
else
  error("unknown BENCH_MODE " .. mode)
end

if mode ~= "live" and mode ~= "chain" then
  function response(status, headers, body)
    if status < 200 or status > 299 then non2xx = non2xx + 1 end
    if status == 503 then
      s503 = s503 + 1
      if headers["Retry-After"] or headers["retry-after"] then s503ra = s503ra + 1 end
    end
    -- an introspection answer is 200 either way: count the inactive ones too
    if mode == "introspect" and body and not string.find(body, '"active":true', 1, true) then non2xx = non2xx + 1 end
    if mode == "refresh" and body then
      local token = string.match(body, '"refresh_token":"([^"]+)"')
      if token then tail = tail + 1; pool[tail] = token end
    end
  end
end

function done(summary, latency, requests)
  local n, n503, n503ra = 0, 0, 0
  for _, t in ipairs(threads) do
    n = n + (t:get("non2xx") or 0)
    n503 = n503 + (t:get("s503") or 0)
    n503ra = n503ra + (t:get("s503ra") or 0)
  end
  local e = summary.errors
  local secs = summary.duration / 1e6
  io.write(string.format(
    '{"label":"%s","mode":"%s","requests":%d,"secs":%.2f,"rps":%.1f,"p50_ms":%.2f,"p90_ms":%.2f,"p99_ms":%.2f,"max_ms":%.2f,' ..
    '"err_connect":%d,"err_read":%d,"err_write":%d,"err_timeout":%d,"err_status":%d,"non2xx":%d,' ..
    '"s503":%d,"s503_retry_after":%d}\n',
    label, mode, summary.requests, secs, summary.requests / secs,
    latency:percentile(50) / 1000, latency:percentile(90) / 1000, latency:percentile(99) / 1000, latency.max / 1000,
    e.connect, e.read, e.write, e.timeout, e.status, n, n503, n503ra))
end
