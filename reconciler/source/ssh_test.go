package source

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/binary"
	"encoding/pem"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// sshGitServer is an SSH server (x/crypto/ssh) on loopback that hands each exec request to serve
// with the command line; it returns the address and the knownHosts line for its host key.
func sshGitServer(t *testing.T, serve func(cmd string, ch ssh.Channel)) (string, []byte) {
	t.Helper()
	_, hostKey, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := ssh.NewSignerFromKey(hostKey)
	if err != nil {
		t.Fatal(err)
	}
	cfg := &ssh.ServerConfig{PublicKeyCallback: func(ssh.ConnMetadata, ssh.PublicKey) (*ssh.Permissions, error) { return nil, nil }}
	cfg.AddHostKey(signer)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				sc, chans, reqs, err := ssh.NewServerConn(c, cfg)
				if err != nil {
					return
				}
				defer sc.Close()
				go ssh.DiscardRequests(reqs)
				for nc := range chans {
					ch, chReqs, err := nc.Accept()
					if err != nil {
						return
					}
					go func() {
						defer ch.Close()
						for req := range chReqs {
							if req.Type != "exec" || len(req.Payload) < 4 {
								_ = req.Reply(false, nil)
								continue
							}
							_ = req.Reply(true, nil)
							serve(string(req.Payload[4:4+binary.BigEndian.Uint32(req.Payload)]), ch)
							_, _ = ch.SendRequest("exit-status", false, []byte{0, 0, 0, 0})
							return
						}
					}()
				}
			}()
		}
	}()
	return ln.Addr().String(), []byte(knownhosts.Line([]string{knownhosts.Normalize(ln.Addr().String())}, signer.PublicKey()) + "\n")
}

func clientKey(t *testing.T) []byte {
	t.Helper()
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	block, err := ssh.MarshalPrivateKey(key, "")
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(block)
}

// TestFetchSSH: a repository served by system git's upload-pack over SSH is fetched with the
// server's host key checked against knownHosts; a server that sends more than the cap over the
// connection (an endless ref advertisement) is cut off and the error says so; an unknown host key
// is refused.
func TestFetchSSH(t *testing.T) {
	dir := t.TempDir()
	bare, work := filepath.Join(dir, "r.git"), filepath.Join(dir, "w")
	run(t, dir, "init", "-q", "--bare", "--initial-branch=main", bare)
	run(t, dir, "clone", "-q", bare, work)
	if err := os.MkdirAll(filepath.Join(work, "deploy"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(work, "deploy", "a.yaml"), []byte("kind: ConfigMap\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	run(t, work, "add", "-A")
	run(t, work, "commit", "-qm", "first")
	head := run(t, work, "rev-parse", "HEAD")
	run(t, work, "push", "-q", "origin", "main")

	addr, known := sshGitServer(t, func(cmd string, ch ssh.Channel) {
		if !strings.HasPrefix(cmd, "git-upload-pack ") {
			fmt.Fprintf(ch.Stderr(), "unexpected command %q\n", cmd)
			return
		}
		if strings.Contains(cmd, "big.git") { // a hostile server: refs without end
			fmt.Fprintf(ch, "%04x%040x HEAD\x00side-band-64k ofs-delta\n", 4+40+6+len("side-band-64k ofs-delta\n"), 1)
			for i := 0; ; i++ {
				if _, err := fmt.Fprintf(ch, "%04x%040x refs/heads/b%09d\n", 4+40+1+len("refs/heads/b")+9+1, i+1, i); err != nil {
					return
				}
			}
		}
		up := exec.Command("git-upload-pack", bare)
		up.Stdin, up.Stdout, up.Stderr = ch, ch, ch.Stderr()
		if err := up.Run(); err != nil {
			fmt.Fprintf(ch.Stderr(), "upload-pack: %v\n", err)
		}
	})
	creds := Credentials{SSHPrivateKey: clientKey(t), KnownHosts: known}
	g := &Git{Dir: t.TempDir()} // default schemes: https, ssh
	ctx := context.Background()

	c, files, err := g.Fetch(ctx, "ssh://git@"+addr+"/r.git", "main", "deploy", creds)
	if err != nil {
		t.Fatalf("fetch over SSH: %v", err)
	}
	if c.Hash != head || string(files["deploy/a.yaml"]) != "kind: ConfigMap\n" {
		t.Errorf("fetched %s %v, want %s with deploy/a.yaml", c.Hash, files, head)
	}

	defer maxFetchBytes.Store(maxFetchBytes.Load())
	maxFetchBytes.Store(256 << 10)
	_, _, err = g.Fetch(ctx, "ssh://git@"+addr+"/big.git", "main", "", creds)
	if err == nil || !strings.Contains(err.Error(), "too large to fetch") {
		t.Errorf("a server sending over the cap: %v", err)
	}

	_, other := sshGitServer(t, func(string, ssh.Channel) {})
	_, _, err = (&Git{Dir: t.TempDir()}).Fetch(ctx, "ssh://git@"+addr+"/r.git", "main", "", Credentials{SSHPrivateKey: creds.SSHPrivateKey, KnownHosts: other})
	if err == nil || !strings.Contains(err.Error(), "key") {
		t.Errorf("an unknown host key: %v", err)
	}
}
