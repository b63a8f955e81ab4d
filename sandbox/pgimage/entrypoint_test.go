//go:build unix

package pgimage

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// fakeTools stands in for the Postgres binaries around the script under test:
// each records how it was called, and initdb lays out a data directory.
var fakeTools = map[string]string{
	// Forces the non-root path so the script never calls setpriv here.
	"id": `echo 999`,
	"initdb": `echo "initdb $*" >>"$LOG"
for a in "$@"; do case "$a" in --pwfile=*) echo "pw=$(cat "${a#--pwfile=}")" >>"$LOG";; esac; done
mkdir -p "$PGDATA"; echo 15 >"$PGDATA/PG_VERSION"; : >"$PGDATA/postgresql.conf"; : >"$PGDATA/pg_hba.conf"`,
	"pg_ctl":   `echo "pg_ctl $*" >>"$LOG"`,
	"psql":     `echo "psql $*" >>"$LOG"; cat >>"$LOG"`,
	"postgres": `echo "postgres $*" >>"$LOG"`,
}

func runEntrypoint(t *testing.T, pgdata string, env []string, args ...string) (log string, out []byte, err error) {
	t.Helper()
	dir := t.TempDir()
	bin := filepath.Join(dir, "bin")
	if err := os.Mkdir(bin, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, body := range fakeTools {
		if err := os.WriteFile(filepath.Join(bin, name), []byte("#!/bin/sh\n"+body+"\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	script := filepath.Join(dir, "docker-entrypoint.sh")
	if err := os.WriteFile(script, []byte(entrypointScript), 0o755); err != nil {
		t.Fatal(err)
	}
	logPath := filepath.Join(dir, "log")
	cmd := exec.Command(script, args...)
	cmd.Env = append([]string{
		"PATH=" + bin + ":/usr/bin:/bin",
		"LOG=" + logPath,
		"PGDATA=" + pgdata,
		"TMPDIR=" + dir,
	}, env...)
	out, err = cmd.CombinedOutput()
	b, _ := os.ReadFile(logPath)
	return string(b), out, err
}

func TestEntrypointInitialisesFromEnv(t *testing.T) {
	if _, err := exec.LookPath("sh"); err != nil {
		t.Skip("no /bin/sh")
	}
	pgdata := filepath.Join(t.TempDir(), "data")
	log, out, err := runEntrypoint(t, pgdata,
		[]string{"POSTGRES_USER=shopuser", "POSTGRES_PASSWORD=p4ss word", "POSTGRES_DB=shopdb"},
		"-c", "fsync=off")
	if err != nil {
		t.Fatalf("entrypoint: %v\n%s", err, out)
	}
	for _, want := range []string{
		"initdb --username=shopuser --pwfile=",
		"--auth-host=scram-sha-256",
		"pw=p4ss word",
		"pg_ctl -D " + pgdata + " -o -c listen_addresses='' -p 5432 -w start",
		"psql -v ON_ERROR_STOP=1 --username shopuser --no-password --dbname postgres --set db=shopdb",
		`CREATE DATABASE :"db" ;`,
		"pg_ctl -D " + pgdata + " -m fast -w stop",
		// Leading flags are postgres flags, as in the official image.
		"postgres -c fsync=off",
	} {
		if !strings.Contains(log, want) {
			t.Errorf("log lacks %q:\n%s", want, log)
		}
	}
	if strings.Index(log, "-w stop") > strings.Index(log, "postgres -c fsync=off") {
		t.Errorf("the real server must start after the init server stopped:\n%s", log)
	}
	conf, _ := os.ReadFile(filepath.Join(pgdata, "postgresql.conf"))
	if !strings.Contains(string(conf), "listen_addresses = '*'") {
		t.Errorf("postgresql.conf = %q, want listen_addresses = '*'", conf)
	}
	hba, _ := os.ReadFile(filepath.Join(pgdata, "pg_hba.conf"))
	if !strings.Contains(string(hba), "host all all all scram-sha-256") {
		t.Errorf("pg_hba.conf = %q, want a host all all all scram-sha-256 line", hba)
	}
	tmp, _ := filepath.Glob(filepath.Join(filepath.Dir(filepath.Dir(pgdata)), "tmp.*"))
	if len(tmp) != 0 {
		t.Errorf("password file left behind: %v", tmp)
	}

	// A second start finds PG_VERSION and only starts the server.
	log, out, err = runEntrypoint(t, pgdata, []string{"POSTGRES_USER=shopuser", "POSTGRES_DB=shopdb"})
	if err != nil {
		t.Fatalf("second start: %v\n%s", err, out)
	}
	if strings.TrimSpace(log) != "postgres" {
		t.Errorf("second start log = %q, want only the server start", log)
	}
}

func TestEntrypointDefaultsDatabaseAndMethod(t *testing.T) {
	pgdata := filepath.Join(t.TempDir(), "data")
	log, out, err := runEntrypoint(t, pgdata, []string{"POSTGRES_PASSWORD=x", "POSTGRES_HOST_AUTH_METHOD=md5"})
	if err != nil {
		t.Fatalf("entrypoint: %v\n%s", err, out)
	}
	if !strings.Contains(log, "initdb --username=postgres ") {
		t.Errorf("POSTGRES_USER must default to postgres:\n%s", log)
	}
	if strings.Contains(log, "CREATE DATABASE") {
		t.Errorf("db postgres exists already; no CREATE DATABASE expected:\n%s", log)
	}
	hba, _ := os.ReadFile(filepath.Join(pgdata, "pg_hba.conf"))
	if !strings.Contains(string(hba), "host all all all md5") {
		t.Errorf("pg_hba.conf = %q, want POSTGRES_HOST_AUTH_METHOD honoured", hba)
	}
}

func TestEntrypointRefusesEmptyPassword(t *testing.T) {
	pgdata := filepath.Join(t.TempDir(), "data")
	log, out, err := runEntrypoint(t, pgdata, []string{"POSTGRES_USER=shop"})
	if err == nil {
		t.Fatalf("want failure without POSTGRES_PASSWORD, got success:\n%s", out)
	}
	if !strings.Contains(string(out), "POSTGRES_PASSWORD is not set") {
		t.Errorf("output = %q, want the reason", out)
	}
	if strings.Contains(log, "initdb") || strings.Contains(log, "postgres") {
		t.Errorf("nothing may run without a password:\n%s", log)
	}
}

func TestEntrypointRunsOtherCommands(t *testing.T) {
	_, out, err := runEntrypoint(t, t.TempDir(), nil, "echo", "hello")
	if err != nil || strings.TrimSpace(string(out)) != "hello" {
		t.Errorf("entrypoint echo hello = %q, %v", out, err)
	}
}

func TestImportChangesMatchOfficialContract(t *testing.T) {
	joined := strings.Join(importChanges, "\n") + "\n" + finishDockerfile
	for _, want := range []string{
		"ENV PATH=", pgBin, "ENV PGDATA=/var/lib/postgresql/data",
		`ENTRYPOINT ["/usr/local/bin/docker-entrypoint.sh"]`, `CMD ["postgres"]`,
		"EXPOSE 5432", "STOPSIGNAL SIGINT", "LABEL " + RecipeLabel + "=", "io.sandbox.image=true", "io.sandbox.service=postgres",
	} {
		if !strings.Contains(joined, want) {
			t.Errorf("import changes lack %q", want)
		}
	}
}

func TestRecipeHashTracksEntrypoint(t *testing.T) {
	before := recipeHash()
	if len(before) != 12 || recipeHash() != before {
		t.Fatalf("recipeHash = %q, want a stable 12-char hash", before)
	}
	saved := entrypointScript
	t.Cleanup(func() { entrypointScript = saved })
	entrypointScript += "# changed\n"
	if recipeHash() == before {
		t.Error("changing the entrypoint must change the recipe hash")
	}
	if isCurrent(map[string]string{RecipeLabel: before}) {
		t.Error("an image labelled with the old hash must not count as current")
	}
}
