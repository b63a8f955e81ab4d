package pgimage

import (
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
)

//go:embed entrypoint.sh
var entrypointScript string

const (
	// EnvMirror overrides the Debian mirror debootstrap downloads from.
	EnvMirror     = "SANDBOX_DEBIAN_MIRROR"
	defaultMirror = "http://deb.debian.org/debian"
	suite         = "bookworm"
	pgMajor       = "15"
	pgBin         = "/usr/lib/postgresql/" + pgMajor + "/bin"
	entrypoint    = "/usr/local/bin/docker-entrypoint.sh"
)

// importChanges are the Dockerfile instructions applied on import; with
// finishDockerfile they give the imported tree the runtime contract of the
// official image.
var importChanges = []string{
	"ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:" + pgBin,
	"ENV PGDATA=/var/lib/postgresql/data",
	// glibc's built-in C.UTF-8 gives UTF8 databases, like the official image.
	"ENV LANG=C.UTF-8",
	"VOLUME /var/lib/postgresql/data",
	`ENTRYPOINT ["` + entrypoint + `"]`,
	`CMD ["postgres"]`,
	"EXPOSE 5432",
	"LABEL io.sandbox.image=true io.sandbox.service=postgres io.sandbox.version=15-debian",
}

// finishDockerfile adds what import can't: engines up to at least 20.10
// refuse STOPSIGNAL as an import change. SIGINT is postgres' fast shutdown,
// as in the official image. The classic builder needs no pull for it.
const finishDockerfile = "FROM %s\nSTOPSIGNAL SIGINT\nLABEL " + RecipeLabel + "=%s\n"

// RecipeLabel on LocalRef holds recipeHash of the recipe that built it, so a
// cached image from an older recipe (say, a fixed entrypoint) gets rebuilt.
const RecipeLabel = "io.sandbox.recipe"

// recipeHash identifies everything that shapes LocalRef.
func recipeHash() string {
	h := sha256.New()
	for _, part := range append([]string{entrypointScript, finishDockerfile, suite, pgMajor, "minbase"}, importChanges...) {
		h.Write([]byte(part))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil))[:12]
}

// isCurrent reports whether an image's labels say it was built by this recipe.
func isCurrent(labels map[string]string) bool {
	return labels[RecipeLabel] == recipeHash()
}
