package control

import (
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"

	"golang.org/x/time/rate"

	"github.com/sandbox-labs/sandbox/services/status"
)

// Write limits. Events are a few hundred bytes; answers and the attempt's stored verdict are the only big
// ones. The rate and the record's cap keep a flood from filling the 128 MiB container.
const (
	maxEventBytes    = 8 << 10
	maxBigEventBytes = 64 << 10
	writeRate        = 20  // writes per second, sustained
	writeBurst       = 200 // a deploy or a scripted lab writes in bursts
	maxPostedEvents  = 20000
)

// bigEventKinds may carry up to maxBigEventBytes.
var bigEventKinds = []string{status.EventAnswer, status.EventAttemptEnded}

// PostActors are who may be named as an event's actor through the API; "observed" is the observer's own.
var PostActors = []string{"cli", "pipeline", "trainee", "agent"}

var kindPattern = regexp.MustCompile(`^[a-z][a-z_]{0,39}$`)

// writeGuard decides whether a request may write the record. Only the CLI, holding the sandbox's secret,
// may: a browser page (CSRF, DNS rebinding), another local user or another team's sandbox may not.
type writeGuard struct {
	tokenDigest string // hex SHA-256 of the sandbox secret; empty: the write API is closed
	limiter     *rate.Limiter
}

func newWriteGuard(tokenDigest string) *writeGuard {
	return &writeGuard{tokenDigest: tokenDigest, limiter: rate.NewLimiter(writeRate, writeBurst)}
}

// guardError is a refused write: the status code and a message that says what to do.
type guardError struct {
	code int
	msg  string
}

func (e *guardError) Error() string { return e.msg }

func refuse(code int, format string, args ...any) *guardError {
	return &guardError{code: code, msg: fmt.Sprintf(format, args...)}
}

// check runs before the body is read. Order matters: a browser's cross-origin request is refused for what
// it is before the token is even looked at.
func (g *writeGuard) check(r *http.Request) *guardError {
	if !allowedHost(r.Host) {
		return refuse(http.StatusForbidden, "host %q refused: the control room answers writes only on 127.0.0.1", r.Host)
	}
	if o := r.Header.Get("Origin"); o != "" && !sameOrigin(o, r.Host) {
		return refuse(http.StatusForbidden, "origin %q refused: writes come from the sandbox CLI, not a web page", o)
	}
	if r.Header.Get("Sec-Fetch-Site") == "cross-site" {
		return refuse(http.StatusForbidden, "cross-site request refused")
	}
	if g.tokenDigest == "" {
		return refuse(http.StatusUnauthorized, "this control room has no write token: only a sandbox started by `sandbox up` records events")
	}
	auth := r.Header.Get(status.AuthHeader)
	if !strings.HasPrefix(auth, status.AuthScheme) || !status.TokenMatches(strings.TrimPrefix(auth, status.AuthScheme), g.tokenDigest) {
		return refuse(http.StatusUnauthorized, "missing or wrong sandbox token: write with the sandbox CLI")
	}
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/json" {
		return refuse(http.StatusUnsupportedMediaType, "content type %q refused: send application/json", r.Header.Get("Content-Type"))
	}
	if !g.limiter.Allow() {
		return refuse(http.StatusTooManyRequests, "too many writes: at most %d a second", writeRate)
	}
	return nil
}

// readBody reads at most limit bytes of the body; a longer one is refused, not truncated.
func readBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, *guardError) {
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		return nil, refuse(http.StatusRequestEntityTooLarge, "body over %d bytes refused", limit)
	}
	if err != nil {
		return nil, refuse(http.StatusBadRequest, "read body: %v", err)
	}
	return b, nil
}

// allowedHost: an IP literal (127.0.0.1 from the host, the container's address inside the network),
// localhost, or the control room's network alias. Any other name is a rebinding attempt.
func allowedHost(hostport string) bool {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	if host == "" {
		return false
	}
	return net.ParseIP(host) != nil || host == "localhost" || host == "control"
}

func sameOrigin(origin, host string) bool {
	u, err := url.Parse(origin)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host == host
}

// validatePosted checks an event the API received and clears what only the control room sets.
func validatePosted(e status.Event, size int) (status.Event, *guardError) {
	if e.Kind == "" {
		return e, refuse(http.StatusBadRequest, "event kind is required")
	}
	if !kindPattern.MatchString(e.Kind) {
		return e, refuse(http.StatusBadRequest, "event kind %q: want lower-case letters and underscores, at most 40", e.Kind)
	}
	if status.ObservedOnly(e.Kind) {
		return e, refuse(http.StatusForbidden, "%s events are recorded only by the control room's own observer", e.Kind)
	}
	if e.Actor == "" {
		e.Actor = "cli"
	}
	if !slices.Contains(PostActors, e.Actor) {
		return e, refuse(http.StatusBadRequest, "actor %q: want one of %s", e.Actor, strings.Join(PostActors, ", "))
	}
	if size > maxEventBytes && !slices.Contains(bigEventKinds, e.Kind) {
		return e, refuse(http.StatusRequestEntityTooLarge, "%s event of %d bytes refused: at most %d", e.Kind, size, maxEventBytes)
	}
	// The record's order and time are the control room's: the order it learned of events, by its clock.
	e.Seq, e.Prev, e.Hash = 0, "", ""
	e.At = time.Time{}
	return e, nil
}
