// Command fakeapp serves simulated application metrics for the demo's SLO guard:
// fakeapp LISTEN VERSION=LATENCY_MS:ERROR_PERCENT…
package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"bollard.dev/bollard/internal/fakeapp"
)

func main() {
	if len(os.Args) < 3 {
		fmt.Fprintln(os.Stderr, "usage: fakeapp LISTEN VERSION=LATENCY_MS:ERROR_PERCENT…")
		os.Exit(2)
	}
	app := fakeapp.New()
	for _, arg := range os.Args[2:] {
		version, spec, ok := strings.Cut(arg, "=")
		ms, pct, ok2 := strings.Cut(spec, ":")
		latency, err1 := strconv.Atoi(ms)
		errors, err2 := strconv.ParseFloat(pct, 64)
		if !ok || !ok2 || err1 != nil || err2 != nil {
			fmt.Fprintf(os.Stderr, "fakeapp: %q: want VERSION=LATENCY_MS:ERROR_PERCENT\n", arg)
			os.Exit(2)
		}
		app.Set(version, fakeapp.Behaviour{Latency: time.Duration(latency) * time.Millisecond, ErrorRate: errors / 100})
	}
	go app.Run(context.Background())
	srv := &http.Server{Addr: os.Args[1], Handler: app.Handler(), ReadHeaderTimeout: 5 * time.Second}
	if err := srv.ListenAndServe(); err != nil {
		fmt.Fprintln(os.Stderr, "fakeapp:", err)
		os.Exit(1)
	}
}
