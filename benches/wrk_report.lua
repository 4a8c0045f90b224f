-- Shared wrk reporter: prints one machine-readable line after the run, read by
-- benches/load.sh. Latencies are in microseconds.
function done(summary, latency, requests)
   local secs = summary.duration / 1e6
   local e = summary.errors
   io.write(string.format(
      "RESULT requests=%d rps=%.1f p50_us=%d p99_us=%d max_us=%d connect_err=%d read_err=%d write_err=%d timeout=%d non2xx=%d\n",
      summary.requests, summary.requests / secs,
      latency:percentile(50), latency:percentile(99), latency.max,
      e.connect, e.read, e.write, e.timeout, e.status))
end
