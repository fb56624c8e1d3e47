// Command pushimage pushes a small random image to each reference given and prints its digest
// reference: test images for the demo, in any OCI registry.
package main

import (
	"fmt"
	"os"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: pushimage REGISTRY/REPO:TAG…")
		os.Exit(2)
	}
	for _, arg := range os.Args[1:] {
		if err := push(arg); err != nil {
			fmt.Fprintln(os.Stderr, "pushimage:", err)
			os.Exit(1)
		}
	}
}

func push(ref string) error {
	tag, err := name.NewTag(ref)
	if err != nil {
		return err
	}
	img, err := random.Image(1024, 1)
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
