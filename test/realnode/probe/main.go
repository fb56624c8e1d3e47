// Command probe runs in a real-node pod: it GETs each URL given (2 s timeout) and prints one line
// each — "URL OK STATUS" or "URL FAIL error" — then waits to be stopped, so its log can be read.
package main

import (
	"fmt"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	client := http.Client{Timeout: 2 * time.Second}
	for _, url := range os.Args[1:] {
		resp, err := client.Get(url)
		if err != nil {
			fmt.Printf("%s FAIL %v\n", url, err)
			continue
		}
		resp.Body.Close()
		fmt.Printf("%s OK %d\n", url, resp.StatusCode)
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	<-sig
}
