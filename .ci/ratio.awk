# Reads `go test -bench DetectorCompare` output and prints, per input, the
# Go detector's and spandsp's time per 160-sample frame and their ratio.
/^BenchmarkDetectorCompare\/in=/ {
	split($1, p, "/"); input = p[2]; det = p[3]; sub(/-[0-9]+$/, "", det)
	for (f = 3; f < NF; f++) if ($(f + 1) == "ns/frame") { sum[input "," det] += $f; n[input "," det]++ }
	seen[input] = 1
}
END {
	for (input in seen) {
		g = sum[input ",det=go"] / n[input ",det=go"]; s = sum[input ",det=spandsp"] / n[input ",det=spandsp"]
		printf "%-12s go %6.0f ns/frame   spandsp %6.0f ns/frame   go is %.2fx as fast\n", input, g, s, s / g
	}
}
