package status

import (
	"testing"
	"time"
)

func chain(n int) []Event {
	var evs []Event
	prev := ""
	for i := 1; i <= n; i++ {
		e := Seal(Event{Seq: int64(i), At: time.Unix(int64(1000+i), 0).UTC(), Kind: EventCommand, Actor: "trainee", Detail: "status"}, prev)
		evs = append(evs, e)
		prev = e.Hash
	}
	return evs
}

func TestVerifyChain(t *testing.T) {
	if err := VerifyChain(chain(5)); err != nil {
		t.Fatalf("an untouched chain must verify: %v", err)
	}
	edited := chain(5)
	edited[2].At = edited[2].At.Add(-time.Hour) // backdated after the fact
	if err := VerifyChain(edited); err == nil {
		t.Error("a backdated event must break the chain")
	}
	dropped := chain(5)
	dropped = append(dropped[:1], dropped[2:]...)
	if err := VerifyChain(dropped); err == nil {
		t.Error("a removed event must break the chain")
	}
	forged := chain(3)
	forged = append(forged, Event{Seq: 4, Kind: EventDataLoss, Actor: "observed"})
	if err := VerifyChain(forged); err == nil {
		t.Error("an appended event without a hash must break the chain")
	}
}

func TestTokenMatches(t *testing.T) {
	d := TokenDigest("secret")
	if !TokenMatches("secret", d) || TokenMatches("other", d) || TokenMatches("", d) || TokenMatches("secret", "") {
		t.Fatal("token digest comparison is wrong")
	}
	if !ObservedOnly(EventDataLoss) || !ObservedOnly(EventSpikeStart) || ObservedOnly(EventCommand) {
		t.Fatal("observed-only kinds are wrong")
	}
}
