package status

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"fmt"
)

// The control room's write API takes the sandbox's secret as a bearer token. The control room itself only
// knows its SHA-256 (ControlTokenEnv), so `docker inspect` of its container does not reveal the secret.
const (
	ControlTokenEnv = "SANDBOX_CONTROL_TOKEN_SHA256"
	AuthHeader      = "Authorization"
	AuthScheme      = "Bearer "
	// AttemptEnv tells a control room which attempt of the incident it records: when it is higher than
	// the one its data dir holds, the old record is archived as a past attempt and a fresh one begins.
	AttemptEnv = "SANDBOX_ATTEMPT"
)

// TokenDigest is the hex SHA-256 of a secret, as the control room's environment carries it.
func TokenDigest(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}

// TokenMatches compares a presented secret with a digest in constant time.
func TokenMatches(secret, digest string) bool {
	if secret == "" || digest == "" {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(TokenDigest(secret)), []byte(digest)) == 1
}

// ChainHash is the hash of e chained to e.Prev: the SHA-256 of its JSON encoding with Hash left empty.
func ChainHash(e Event) string {
	e.Hash = ""
	b, _ := json.Marshal(e) // Event holds only strings, ints, a time and a string map: it always encodes
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// Seal sets e.Prev to prev and e.Hash to its chain hash.
func Seal(e Event, prev string) Event {
	e.Prev = prev
	e.Hash = ChainHash(e)
	return e
}

// VerifyChain checks that every event's Hash matches its content and that each links to the one before it,
// in order of Seq. It names the first event that breaks the chain.
func VerifyChain(events []Event) error {
	prev := ""
	var prevSeq int64
	for i, e := range events {
		if i > 0 && e.Seq <= prevSeq {
			return fmt.Errorf("event %d (seq %d, %s) is out of order after seq %d", i+1, e.Seq, e.Kind, prevSeq)
		}
		if e.Hash == "" {
			return fmt.Errorf("event seq %d (%s) carries no hash", e.Seq, e.Kind)
		}
		if e.Prev != prev {
			return fmt.Errorf("event seq %d (%s) does not link to the event before it", e.Seq, e.Kind)
		}
		if ChainHash(e) != e.Hash {
			return fmt.Errorf("event seq %d (%s) was changed after it was recorded", e.Seq, e.Kind)
		}
		prev, prevSeq = e.Hash, e.Seq
	}
	return nil
}
