-- wrk script for the write scenario: each connection alternates createDeployment and deleteDeployment of
-- the deployment it just created, with the API key in $BENCH_AUTH on the workspace $BENCH_WORKSPACE.
local auth = os.getenv("BENCH_AUTH")
local workspace = os.getenv("BENCH_WORKSPACE")
local created = {}
local counter = 0
failures = 0 -- global: done() reads it from each thread
local threads = {}
local prefix

function setup(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end

function init(args)
  prefix = "bench-" .. tostring(id) .. "-" .. tostring(math.random(1, 1000000000))
end

local function body(query, variables)
  return '{"query":"' .. query .. '","variables":' .. variables .. '}'
end

function request()
  local headers = { ["Content-Type"] = "application/json", ["Authorization"] = auth }
  local pending = table.remove(created)
  if pending then
    return wrk.format("POST", nil, headers, body(
      "mutation($d: Uuid!) { deleteDeployment(deploymentUuid: $d) { id } }",
      '{"d":"' .. pending .. '"}'))
  end
  counter = counter + 1
  return wrk.format("POST", nil, headers, body(
    "mutation($w: Uuid!, $l: String!) { createDeployment(workspaceUuid: $w, label: $l) { id } }",
    '{"w":"' .. workspace .. '","l":"' .. prefix .. "-" .. counter .. '"}'))
end

function response(status, headers, response_body)
  if status ~= 200 or string.find(response_body, '"errors"', 1, true) then
    failures = failures + 1
    return
  end
  local id = string.match(response_body, '"createDeployment":{"id":"([0-9a-f-]+)"')
  if id then
    table.insert(created, id)
  end
end

function done(summary, latency, requests)
  local total = 0
  for _, thread in ipairs(threads) do
    total = total + thread:get("failures")
  end
  io.write(string.format("graphql_failures %d\n", total))
end
