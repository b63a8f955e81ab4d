package observability

import (
	"crypto/sha256"
	"encoding/hex"
)

const (
	// EnvMirror overrides the Debian mirror debootstrap downloads from (shared with sandbox/pgimage).
	EnvMirror     = "SANDBOX_DEBIAN_MIRROR"
	defaultMirror = "http://deb.debian.org/debian"
	suite         = "bookworm"
	promBinary    = "/usr/bin/prometheus"
)

// RecipeLabel on LocalPrometheusRef holds recipeHash of the recipe that built it, so an image from an older
// recipe gets rebuilt.
const RecipeLabel = "io.sandbox.recipe"

// importChanges give the imported tree prom/prometheus's runtime contract: the binary as entrypoint (the
// flags come from Start), /prometheus as the working and data directory, non-root.
var importChanges = []string{
	"ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
	"WORKDIR " + dataDir,
	"USER 65534:65534",
	`ENTRYPOINT ["` + promBinary + `"]`,
	`CMD ["--config.file=/etc/prometheus/prometheus.yml", "--storage.tsdb.path=` + dataDir + `"]`,
	"EXPOSE 9090",
	"LABEL io.sandbox.image=true io.sandbox.service=prometheus io.sandbox.version=debian",
}

// trimmed are removed from the tree: package caches and documentation nobody reads in a container.
var trimmed = []string{
	"var/cache/apt/archives/*.deb",
	"var/cache/apt/*.bin",
	"var/lib/apt/lists/*",
	"usr/share/doc/*",
	"usr/share/man/*",
	"usr/share/info/*",
	"usr/share/locale/*",
	// 212 MB of raw time-zone data that the classic web UI (which loads the bundled .js) never reads.
	"usr/share/javascript/moment-timezone/data",
}

// recipeHash identifies everything that shapes LocalPrometheusRef.
func recipeHash() string {
	h := sha256.New()
	parts := append([]string{suite, "minbase", "prometheus", dataDir}, importChanges...)
	for _, part := range append(parts, trimmed...) {
		h.Write([]byte(part))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil))[:12]
}
