package sandbox

import "testing"

func TestSealBindsSecretAndContainerName(t *testing.T) {
	secret := newSecret()
	if len(secret) != 64 || secret == newSecret() {
		t.Fatalf("secrets must be 32 random bytes, hex: %q", secret)
	}
	seal := Seal(secret, "team-1-gateway-abc123")
	if !SealValid(secret, "team-1-gateway-abc123", seal) {
		t.Fatal("a container's own seal must be valid")
	}
	// A container that copies the labels of a real one under another name, or guesses without the secret.
	if SealValid(secret, "team-1-gateway-evil00", seal) {
		t.Error("a seal copied to another container name must not be valid")
	}
	if SealValid(newSecret(), "team-1-gateway-abc123", seal) {
		t.Error("a seal made with another sandbox's secret must not be valid")
	}
	if SealValid("", "team-1-gateway-abc123", Seal("", "team-1-gateway-abc123")) {
		t.Error("no secret means nothing can be sealed")
	}
}

func TestEndpointsControlRoomCarriesToken(t *testing.T) {
	ep := Endpoints{Control: "http://127.0.0.1:1", Secret: "s3cret"}
	if cr := ep.ControlRoom(); cr.Token != "s3cret" || cr.Base != ep.Control {
		t.Fatalf("control room client = %+v", cr)
	}
}
