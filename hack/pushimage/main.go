// Command pushimage pushes an image to each reference given and prints its digest reference: a
// small random image (test images for the demo), or with -bin a one-layer image of that static
// Linux binary as its entrypoint (what the real node's pods run), in any OCI registry.
//
//	pushimage [-bin PATH] REGISTRY/REPO:TAG…
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"bollard.dev/bollard/test/cluster"
)

func main() {
	bin := flag.String("bin", "", "a static binary: the image runs it")
	flag.Parse()
	if flag.NArg() < 1 {
		fmt.Fprintln(os.Stderr, "usage: pushimage [-bin PATH] REGISTRY/REPO:TAG…")
		os.Exit(2)
	}
	for _, arg := range flag.Args() {
		if err := push(arg, *bin); err != nil {
			fmt.Fprintln(os.Stderr, "pushimage:", err)
			os.Exit(1)
		}
	}
}

func push(ref, bin string) error {
	tag, err := name.NewTag(ref)
	if err != nil {
		return err
	}
	var img v1.Image
	if bin != "" {
		img, err = cluster.StaticImage(bin, "/"+filepath.Base(bin))
	} else {
		img, err = random.Image(1024, 1)
	}
	if err != nil {
		return err
	}
	if err := remote.Write(tag, img); err != nil {
		return fmt.Errorf("push %s: %w", ref, err)
	}
	d, err := img.Digest()
	if err != nil {
		return err
	}
	fmt.Println(tag.Context().Digest(d.String()))
	return nil
}
