// Package pgimage makes sure a Postgres image exists on the Docker engine.
//
// It prefers the official image (postgres:16-alpine by default); where that
// can't be found locally or pulled (air-gapped rooms, this project's CI), it
// builds an equivalent image, sandbox/postgres:15-debian, from Debian's
// packages with debootstrap and imports it through the Engine API.
package pgimage

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/docker/docker/client"
	"github.com/sandbox-labs/sandbox/sandbox/engine"
)

const (
	// DefaultRef is the image used when neither the caller nor EnvImage names one.
	DefaultRef = "postgres:16-alpine"
	// LocalRef is the image built from Debian's packages when DefaultRef can't be had.
	LocalRef = "sandbox/postgres:15-debian"
	// EnvImage overrides DefaultRef (a caller's explicit ref still wins).
	EnvImage = "SANDBOX_POSTGRES_IMAGE"
)

// HealthCmd is a Docker healthcheck test that works for both the official
// image and LocalRef. It probes TCP on purpose: both entrypoints initialise
// through a socket-only server, so TCP answers only once the real server runs.
var HealthCmd = []string{"CMD-SHELL", `pg_isready -h 127.0.0.1 -p 5432 -U "${POSTGRES_USER:-postgres}" -d "${POSTGRES_DB:-${POSTGRES_USER:-postgres}}"`}

// pullTimeout bounds the pull attempt: without a registry it should fail at
// once, but a black-holed network must not stall `sandbox up`.
const pullTimeout = 30 * time.Second

// builder builds LocalRef; injectable so the decision order is testable.
type builder func(ctx context.Context, cli client.APIClient, progress func(string)) error

// Ensure returns a Postgres image reference that exists on the engine.
// ref is the caller's choice ("" = EnvImage, else DefaultRef). Order: ref
// present locally; when nobody chose a ref, LocalRef present and built by
// this recipe; ref pulled; LocalRef present and current; LocalRef (re)built.
func Ensure(ctx context.Context, cli client.APIClient, ref string, progress func(step string)) (imageRef string, err error) {
	return ensure(ctx, cli, ref, progress, BuildLocal)
}

// ResolveRef applies the precedence caller > EnvImage > DefaultRef.
func ResolveRef(ref string) string {
	if ref != "" {
		return ref
	}
	if env := os.Getenv(EnvImage); env != "" {
		return env
	}
	return DefaultRef
}

func ensure(ctx context.Context, cli client.APIClient, ref string, progress func(string), build builder) (string, error) {
	if progress == nil {
		progress = func(string) {}
	}
	defaulted := ref == "" && os.Getenv(EnvImage) == ""
	ref = ResolveRef(ref)

	if ref != LocalRef {
		if present, err := engine.ImagePresent(ctx, cli, ref); err != nil {
			return "", err
		} else if present {
			progress(fmt.Sprintf("postgres image %s: present", ref))
			return ref, nil
		}
		// Nobody asked for the official image by name and the local build is here: no pull attempt first
		// (on an air-gapped machine that is a DNS timeout on every up).
		if defaulted {
			if _, current, err := localImage(ctx, cli); err != nil {
				return "", err
			} else if current {
				progress(fmt.Sprintf("postgres image %s: present (--postgres-image %s tries the official image)", LocalRef, DefaultRef))
				return LocalRef, nil
			}
		}

		progress(fmt.Sprintf("postgres image %s: not present, pulling", ref))
		pullErr := engine.Pull(ctx, cli, ref, pullTimeout)
		if pullErr == nil {
			progress(fmt.Sprintf("postgres image %s: pulled", ref))
			return ref, nil
		}
		if ctx.Err() != nil {
			return "", fmt.Errorf("pull %s: %w", ref, ctx.Err())
		}
		progress(fmt.Sprintf("postgres image %s: pull failed (%v); using local build %s", ref, pullErr, LocalRef))
	}

	present, current, err := localImage(ctx, cli)
	if err != nil {
		return "", err
	}
	if current {
		progress(fmt.Sprintf("postgres image %s: present", LocalRef))
		return LocalRef, nil
	}
	if present {
		progress(fmt.Sprintf("postgres image %s: built by an older recipe, rebuilding", LocalRef))
	}
	if err := build(ctx, cli, progress); err != nil {
		if present && ctx.Err() == nil {
			// An older build still runs Postgres; better than no database.
			progress(fmt.Sprintf("warning: rebuild of %s failed, using the older build: %v", LocalRef, err))
			return LocalRef, nil
		}
		return "", fmt.Errorf("build %s: %w", LocalRef, err)
	}
	return LocalRef, nil
}

// localImage reports whether LocalRef exists and whether this recipe built it.
func localImage(ctx context.Context, cli client.APIClient) (present, current bool, err error) {
	present, labels, err := engine.ImageLabels(ctx, cli, LocalRef)
	return present, present && isCurrent(labels), err
}
