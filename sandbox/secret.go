package sandbox

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"

	"github.com/docker/docker/api/types/network"
)

// LabelSecret on the sandbox network holds the sandbox's secret, created at `up`: the CLI's key to the
// control room's write API (the control room only knows its digest) and to the container seals. Whoever can
// read the engine's labels owns the host anyway; browsers, other local users and containers cannot.
const LabelSecret = "io.sandbox.secret"

// LabelSeal on a container is HMAC(secret, container name): grade trusts only containers the CLI created,
// and a container that merely copies the sandbox's labels cannot carry a valid seal for its own name.
const LabelSeal = "io.sandbox.seal"

func newSecret() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// Seal is the seal of the container called containerName in the sandbox with this secret.
func Seal(secret, containerName string) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(containerName))
	return hex.EncodeToString(m.Sum(nil))
}

// SealValid reports whether seal is the right one for containerName.
func SealValid(secret, containerName, seal string) bool {
	return secret != "" && hmac.Equal([]byte(Seal(secret, containerName)), []byte(seal))
}

// Secret reads the sandbox's secret from its network's label ("" for a sandbox made before secrets existed).
func (e *Engine) Secret(ctx context.Context, name string) (string, error) {
	l, err := e.networkLabels(ctx, name)
	return l[LabelSecret], err
}

// networkLabels are the labels of sandbox name's network: how it was created (settings, secret, game).
func (e *Engine) networkLabels(ctx context.Context, name string) (map[string]string, error) {
	nets, err := e.NetworkList(ctx, network.ListOptions{Filters: NameFilter(name, "network")})
	if err != nil {
		return nil, fmt.Errorf("list networks: %w", err)
	}
	for _, n := range nets {
		if n.Name == NetworkName(name) {
			return n.Labels, nil
		}
	}
	return nil, fmt.Errorf("no sandbox named %q on this engine; start one with `sandbox up --name %s`", name, name)
}
