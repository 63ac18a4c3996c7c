-- analyzers/lib/metrics.lua -- the metrics the analyzer library reads, in one place: the PromQL
-- of each signal, written for the conventions in analyzers/README.md (a service's HTTP
-- metrics, its calls to dependencies, node_exporter). A site whose names differ changes them
-- here, and every analyzer follows.
local M = {}

-- 'template' with each {name} replaced by values[name] (placeholders without a value stay).
-- Values go in as they are: callers pass inputs that their types' patterns have checked.
function M.expr(template, values)
  return (template:gsub("{(%w+)}", function(name) return values[name] end))
end

-- A service's HTTP server: requests by code, and the request-duration histogram.
M.http = {
  error_ratio = 'sum(rate(http_requests_total{service="{service}",code=~"5.."}[5m]))'
    .. ' / sum(rate(http_requests_total{service="{service}"}[5m]))',
  mean_latency = 'sum(rate(http_request_duration_seconds_sum{service="{service}"}[5m]))'
    .. ' / sum(rate(http_request_duration_seconds_count{service="{service}"}[5m]))',
  quantile = "histogram_quantile({q}, sum by (le) ("
    .. 'rate(http_request_duration_seconds_bucket{service="{service}"}[5m])))',
  latency_sum_by = "sum by ({by}) ("
    .. 'rate(http_request_duration_seconds_sum{service="{service}"}[5m]))',
  latency_count_by = "sum by ({by}) ("
    .. 'rate(http_request_duration_seconds_count{service="{service}"}[5m]))',
}

-- A service's calls to its dependencies, by dependency.
M.calls = {
  error_ratio = "sum by (dependency) ("
    .. 'rate(dependency_requests_total{service="{service}",result="error"}[5m]))'
    .. ' / sum by (dependency) (rate(dependency_requests_total{service="{service}"}[5m]))',
  latency = "sum by (dependency) ("
    .. 'rate(dependency_request_duration_seconds_sum{service="{service}"}[5m]))'
    .. " / sum by (dependency) ("
    .. 'rate(dependency_request_duration_seconds_count{service="{service}"}[5m]))',
}

-- Hosts (node_exporter): the used fraction of each resource, by instance and service ({sel}:
-- label matchers that pick the hosts).
M.node = {
  cpu = '1 - avg by (instance, service) (rate(node_cpu_seconds_total{{sel},mode="idle"}[5m]))',
  memory = "1 - sum by (instance, service) (node_memory_MemAvailable_bytes{{sel}})"
    .. " / sum by (instance, service) (node_memory_MemTotal_bytes{{sel}})",
  disk = 'max by (instance, service) (1 - node_filesystem_avail_bytes{{sel},fstype!~"tmpfs|overlay"}'
    .. ' / node_filesystem_size_bytes{{sel},fstype!~"tmpfs|overlay"})',
}

-- The log lines of a service in Loki ({filter}: a LogQL regular expression without backquotes).
M.logs = {
  errors = '{service="{service}"} |~ `{filter}`',
}

return M
