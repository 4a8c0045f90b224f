-- 4 KiB POSTs: wrk -s benches/wrk_post.lua URL (wrk adds Content-Length: 4096)
wrk.method = "POST"
wrk.path = "/bench-bucket/object-4k"
wrk.body = string.rep("x", 4096)
wrk.headers["Content-Type"] = "application/octet-stream"
dofile(os.getenv("WRK_REPORT") or "benches/wrk_report.lua")
