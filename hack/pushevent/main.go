// Command pushevent sends a GitHub-style push event, signed with HMAC-SHA256, to a bollard
// daemon's receiver: what a git server's webhook does, for the demo.
package main

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
)

func main() {
	if len(os.Args) != 6 {
		fmt.Fprintln(os.Stderr, "usage: pushevent RECEIVER_URL SECRET REPO_URL REF COMMIT")
		os.Exit(2)
	}
	receiver, secret, repo, ref, after := os.Args[1], os.Args[2], os.Args[3], os.Args[4], os.Args[5]
	body, _ := json.Marshal(map[string]any{"ref": ref, "after": after, "repository": map[string]string{"clone_url": repo}})
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	req, err := http.NewRequest(http.MethodPost, receiver, bytes.NewReader(body))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	req.Header.Set("X-GitHub-Event", "push")
	req.Header.Set("X-Hub-Signature-256", "sha256="+hex.EncodeToString(mac.Sum(nil)))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	fmt.Printf("%s %s", resp.Status, out)
	if resp.StatusCode >= 300 {
		os.Exit(1)
	}
}
