package sandbox

import (
	"fmt"
	"regexp"

	"github.com/docker/docker/api/types/filters"
)

// Labels every sandbox resource carries; lookups and cleanup select by them, never by remembered IDs.
const (
	LabelManaged = "io.sandbox.managed"
	LabelName    = "io.sandbox.name"
	LabelService = "io.sandbox.service"
	LabelVersion = "io.sandbox.version"
	LabelImage   = "io.sandbox.image"
	LabelRelease = "io.sandbox.release" // on images: the release manifest JSON
	LabelBinary  = "io.sandbox.binary"  // on images: sha of the binary inside
	// LabelGame marks a sandbox (its network, volumes and containers) as a team of a game day: `sandbox
	// gameday` finds the teams of a game by it.
	LabelGame = "io.sandbox.game"
)

// DefaultName is the sandbox name when --name is not given.
const DefaultName = "sandbox"

var nameRE = regexp.MustCompile(`^[a-z][a-z0-9-]{0,29}$`)

// ValidateName checks a sandbox name: it becomes part of image, container and network names.
func ValidateName(name string) error {
	if !nameRE.MatchString(name) || name[len(name)-1] == '-' {
		return fmt.Errorf("invalid sandbox name %q: use 1-30 lowercase letters, digits or '-', starting with a letter (e.g. team-1)", name)
	}
	return nil
}

// ResourceLabels are the labels of one sandbox resource.
func ResourceLabels(name, service, version string) map[string]string {
	l := map[string]string{LabelManaged: "true", LabelName: name, LabelService: service}
	if version != "" {
		l[LabelVersion] = version
	}
	return l
}

// NameFilter selects the resources of one sandbox (all sandboxes when name is empty).
func NameFilter(name string, service ...string) filters.Args {
	f := filters.NewArgs(filters.Arg("label", LabelManaged+"=true"))
	if name != "" {
		f.Add("label", LabelName+"="+name)
	}
	for _, s := range service {
		f.Add("label", LabelService+"="+s)
	}
	return f
}

// NetworkName is the sandbox's private bridge network.
func NetworkName(name string) string { return "sandbox-" + name }

// VolumeName is one of the sandbox's named volumes.
func VolumeName(name, purpose string) string { return "sandbox-" + name + "-" + purpose }

// ImageRef is the tag of a role's image for a release in one sandbox: e.g. sandbox/checkout:v2.3.0. Images are
// per sandbox because a fix-forward release (v2.4.1) or a game-day fault subset differs between teams.
func ImageRef(name, role, version string) string { return name + "/" + role + ":" + version }

// GameFilter selects the networks of the sandboxes that are teams of game (of any game when game is empty).
func GameFilter(game string) filters.Args {
	f := NameFilter("", "network")
	if game == "" {
		f.Add("label", LabelGame)
	} else {
		f.Add("label", LabelGame+"="+game)
	}
	return f
}
