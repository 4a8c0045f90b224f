-- Small GETs (no body): wrk -s benches/wrk_get.lua URL
wrk.method = "GET"
wrk.path = "/bench-bucket/small-object"
dofile(os.getenv("WRK_REPORT") or "benches/wrk_report.lua")
