// Command pause is the real node's sandbox process: it holds a pod's namespaces and waits for
// SIGTERM or SIGINT (a static binary, built into the pause image by the cluster package).
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	<-sig
}
