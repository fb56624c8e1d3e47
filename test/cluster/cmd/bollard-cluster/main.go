// Command bollard-cluster starts, inspects and stops the local test control plane:
//
//	bollard-cluster up     [--dir DIR]           build what is missing, start (or keep) the cluster
//	bollard-cluster status [--dir DIR]           report each component; exit 1 when one is down
//	bollard-cluster down   [--dir DIR] [--purge] stop it by its recorded PIDs; --purge deletes DIR
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"bollard.dev/bollard/test/cluster"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "bollard-cluster:", err)
		os.Exit(1)
	}
}

func defaultDir() string {
	if dir := os.Getenv("BOLLARD_CLUSTER_DIR"); dir != "" {
		return dir
	}
	home, _ := os.UserHomeDir()
	return filepath.Join(home, ".cache", "bollard", "cluster")
}

func run(args []string) error {
	if len(args) == 0 {
		return errors.New("usage: bollard-cluster up|status|down [--dir DIR] [--purge]")
	}
	fs := flag.NewFlagSet(args[0], flag.ContinueOnError)
	dir := fs.String("dir", defaultDir(), "folder for the cluster's certificates, data, logs and kubeconfig")
	purge := fs.Bool("purge", false, "down: also delete the folder (etcd data, certificates, logs)")
	realNode := fs.Bool("real-node", os.Getenv("REAL_NODE") == "1", "up: add the real-node lane (kubelet, containerd, kube-proxy); default $REAL_NODE=1")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	switch args[0] {
	case "up":
		return up(ctx, *dir, *realNode)
	case "status":
		c, err := cluster.Load(*dir)
		if err != nil {
			return fmt.Errorf("no cluster in %s: %w", *dir, err)
		}
		fmt.Print(c.Describe())
		return c.Health()
	case "down":
		return down(*dir, *purge)
	}
	return fmt.Errorf("unknown command %q: want up, status or down", args[0])
}

// up is idempotent: a healthy cluster is kept; one with a crashed component is reported (with the
// component's log) and replaced.
func up(ctx context.Context, dir string, realNode bool) error {
	if c, err := cluster.Load(dir); err == nil {
		health := c.Health()
		if health == nil && (c.Node != nil) != realNode {
			health = fmt.Errorf("the running cluster's real node: %v, asked for: %v", c.Node != nil, realNode)
		}
		if health == nil {
			fmt.Printf("cluster already running\n%s", c.Describe())
			fmt.Println(c.Kubeconfig)
			return nil
		}
		fmt.Fprintf(os.Stderr, "restarting the cluster in %s:\n%v\n", dir, health)
		if err := c.Stop(); err != nil {
			return err
		}
	}
	if realNode {
		os.Setenv("REAL_NODE", "1") // build.sh builds kubelet and kube-proxy too
	}
	bin, err := cluster.BinDir(ctx)
	if err != nil {
		return err
	}
	c, err := cluster.Start(ctx, cluster.Options{BinDir: bin, Dir: dir, Detach: true, RealNode: realNode})
	if err != nil {
		return err
	}
	fmt.Print(c.Describe())
	fmt.Println(c.Kubeconfig)
	return nil
}

func down(dir string, purge bool) error {
	c, err := cluster.Load(dir)
	switch {
	case errors.Is(err, os.ErrNotExist):
		fmt.Println("no cluster running in", dir)
	case err != nil:
		return err
	default:
		if err := c.Stop(); err != nil {
			return err
		}
		fmt.Println("cluster stopped")
	}
	if purge {
		return os.RemoveAll(dir)
	}
	return nil
}
