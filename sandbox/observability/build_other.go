//go:build !unix

package observability

import (
	"context"
	"fmt"

	"github.com/docker/docker/client"
)

// buildLocal needs debootstrap, which only runs on Linux.
func buildLocal(ctx context.Context, cli client.APIClient, progress func(string)) error {
	return fmt.Errorf("building %s needs Linux with debootstrap; make %s available instead", LocalPrometheusRef, DefaultPrometheusRef)
}
