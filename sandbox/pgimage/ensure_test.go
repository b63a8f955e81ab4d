package pgimage

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/client"
	"github.com/docker/docker/errdefs"
	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"
)

// fakeEngine implements only the image calls Ensure makes; any other call
// panics through the nil embedded interface.
type fakeEngine struct {
	client.APIClient
	images   map[string]bool
	stale    bool // LocalRef was built by another recipe
	pullable map[string]bool
	pullErr  string // error reported inside the pull stream
	calls    []string
}

func (f *fakeEngine) ImageInspect(_ context.Context, ref string, _ ...client.ImageInspectOption) (image.InspectResponse, error) {
	f.calls = append(f.calls, "inspect "+ref)
	if f.images[ref] {
		cfg := &dockerspec.DockerOCIImageConfig{}
		if ref == LocalRef && !f.stale {
			cfg.Labels = map[string]string{RecipeLabel: recipeHash()}
		}
		return image.InspectResponse{ID: "sha256:" + ref, Config: cfg}, nil
	}
	return image.InspectResponse{}, errdefs.NotFound(errors.New("no such image: " + ref))
}

func (f *fakeEngine) ImagePull(_ context.Context, ref string, _ image.PullOptions) (io.ReadCloser, error) {
	f.calls = append(f.calls, "pull "+ref)
	if f.pullErr != "" {
		return io.NopCloser(strings.NewReader(`{"status":"Pulling"}` + "\n" + `{"errorDetail":{"message":"` + f.pullErr + `"},"error":"` + f.pullErr + `"}`)), nil
	}
	if !f.pullable[ref] {
		return nil, errors.New("dial tcp: lookup registry-1.docker.io: no such host")
	}
	f.images[ref] = true
	return io.NopCloser(strings.NewReader(`{"status":"Downloaded newer image for ` + ref + `"}`)), nil
}

type buildRecorder struct {
	called int
	err    error
	engine *fakeEngine
}

func (b *buildRecorder) build(_ context.Context, _ client.APIClient, progress func(string)) error {
	b.called++
	progress("building")
	if b.err == nil {
		b.engine.images[LocalRef] = true
		b.engine.stale = false
	}
	return b.err
}

func TestEnsureDecisionOrder(t *testing.T) {
	t.Setenv(EnvImage, "")
	cases := []struct {
		name      string
		ref       string
		images    []string
		stale     bool
		pullable  []string
		pullErr   string
		buildErr  error
		want      string
		wantBuild int
		wantErr   string
		wantCalls []string
	}{
		{
			name: "present locally", images: []string{DefaultRef},
			want: DefaultRef, wantCalls: []string{"inspect " + DefaultRef},
		},
		{
			name: "pulled", pullable: []string{DefaultRef},
			want:      DefaultRef,
			wantCalls: []string{"inspect " + DefaultRef, "inspect " + LocalRef, "pull " + DefaultRef, "inspect " + DefaultRef},
		},
		{
			name: "local build present: used without a pull attempt", images: []string{LocalRef},
			want:      LocalRef,
			wantCalls: []string{"inspect " + DefaultRef, "inspect " + LocalRef},
		},
		{
			name: "official image asked for by name is pulled even with a local build", ref: DefaultRef,
			images: []string{LocalRef}, pullable: []string{DefaultRef}, want: DefaultRef,
			wantCalls: []string{"inspect " + DefaultRef, "pull " + DefaultRef, "inspect " + DefaultRef},
		},
		{
			name: "pull fails, build", want: LocalRef, wantBuild: 1,
			wantCalls: []string{"inspect " + DefaultRef, "inspect " + LocalRef, "pull " + DefaultRef, "inspect " + LocalRef},
		},
		{
			name: "pull stream error counts as failure", pullErr: "manifest unknown",
			want: LocalRef, wantBuild: 1,
			wantCalls: []string{"inspect " + DefaultRef, "inspect " + LocalRef, "pull " + DefaultRef, "inspect " + LocalRef},
		},
		{
			name: "build fails", buildErr: errors.New("debootstrap not found"),
			wantBuild: 1, wantErr: "build sandbox/postgres:15-debian: debootstrap not found",
		},
		{
			name: "caller's ref", ref: "postgres:15", images: []string{"postgres:15", DefaultRef},
			want: "postgres:15", wantCalls: []string{"inspect postgres:15"},
		},
		{
			name: "local build from an older recipe is rebuilt", images: []string{LocalRef}, stale: true,
			want: LocalRef, wantBuild: 1,
			wantCalls: []string{"inspect " + DefaultRef, "inspect " + LocalRef, "pull " + DefaultRef, "inspect " + LocalRef},
		},
		{
			name: "older local build is kept when a rebuild fails", images: []string{LocalRef}, stale: true,
			buildErr: errors.New("debootstrap needs root"), want: LocalRef, wantBuild: 1,
		},
		{
			name: "LocalRef asked for is never pulled", ref: LocalRef,
			want: LocalRef, wantBuild: 1, wantCalls: []string{"inspect " + LocalRef},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := &fakeEngine{images: map[string]bool{}, pullable: map[string]bool{}, pullErr: tc.pullErr, stale: tc.stale}
			for _, i := range tc.images {
				f.images[i] = true
			}
			for _, p := range tc.pullable {
				f.pullable[p] = true
			}
			b := &buildRecorder{err: tc.buildErr, engine: f}
			var steps []string
			got, err := ensure(context.Background(), f, tc.ref, func(s string) { steps = append(steps, s) }, b.build)

			if tc.wantErr != "" {
				if err == nil || err.Error() != tc.wantErr {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
			} else if err != nil {
				t.Fatalf("ensure: %v", err)
			}
			if got != tc.want {
				t.Errorf("ref = %q, want %q", got, tc.want)
			}
			if b.called != tc.wantBuild {
				t.Errorf("builder called %d times, want %d", b.called, tc.wantBuild)
			}
			if tc.wantCalls != nil && strings.Join(f.calls, ", ") != strings.Join(tc.wantCalls, ", ") {
				t.Errorf("engine calls = %v, want %v", f.calls, tc.wantCalls)
			}
			if len(steps) == 0 {
				t.Errorf("no progress reported")
			}
		})
	}
}

func TestEnsureEnvOverridesDefaultButNotCaller(t *testing.T) {
	t.Setenv(EnvImage, "postgres:17")
	if got := ResolveRef(""); got != "postgres:17" {
		t.Errorf("ResolveRef(\"\") = %q, want the env's postgres:17", got)
	}
	if got := ResolveRef("mine:1"); got != "mine:1" {
		t.Errorf("ResolveRef(mine:1) = %q, the caller must win", got)
	}
	t.Setenv(EnvImage, "")
	if got := ResolveRef(""); got != DefaultRef {
		t.Errorf("ResolveRef(\"\") = %q, want %q", got, DefaultRef)
	}

	t.Setenv(EnvImage, "postgres:17")
	f := &fakeEngine{images: map[string]bool{"postgres:17": true}, pullable: map[string]bool{}}
	got, err := ensure(context.Background(), f, "", nil, func(context.Context, client.APIClient, func(string)) error {
		t.Fatal("must not build")
		return nil
	})
	if err != nil || got != "postgres:17" {
		t.Errorf("ensure = %q, %v; want postgres:17", got, err)
	}
}

func TestEnsureInspectErrorIsNotAbsence(t *testing.T) {
	t.Setenv(EnvImage, "")
	f := &brokenEngine{}
	_, err := ensure(context.Background(), f, "", nil, func(context.Context, client.APIClient, func(string)) error {
		t.Fatal("an engine error must not trigger a build")
		return nil
	})
	if err == nil || !strings.Contains(err.Error(), "connection refused") {
		t.Errorf("err = %v, want the engine error", err)
	}
}

type brokenEngine struct{ client.APIClient }

func (brokenEngine) ImageInspect(context.Context, string, ...client.ImageInspectOption) (image.InspectResponse, error) {
	return image.InspectResponse{}, errors.New("connection refused")
}
