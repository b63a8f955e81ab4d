//go:build !unix

package pgimage

import (
	"context"
	"fmt"

	"github.com/docker/docker/client"
)

// BuildLocal needs debootstrap, which only runs on Linux.
func BuildLocal(ctx context.Context, cli client.APIClient, progress func(step string)) error {
	return fmt.Errorf("building %s needs Linux with debootstrap; make %s (or the image named by %s) available instead", LocalRef, DefaultRef, EnvImage)
}
