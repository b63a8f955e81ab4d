package auth

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"go.uber.org/zap"
)

type fakeUsers []User

func (f fakeUsers) Users(context.Context) ([]User, error) { return f, nil }

type downUsers struct{}

func (downUsers) Users(context.Context) ([]User, error) { return nil, errors.New("db down") }

func testServer(t *testing.T, a *Auth) *httptest.Server {
	t.Helper()
	a.Login, a.Session = Dist{}, Dist{}
	mux := http.NewServeMux()
	a.Mount(func(p string, h http.HandlerFunc) { mux.HandleFunc(p, h) })
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

func session(t *testing.T, url, auth string) (int, User) {
	t.Helper()
	req, _ := http.NewRequest("GET", url+"/session", nil)
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := testHTTP.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var u User
	_ = json.NewDecoder(resp.Body).Decode(&u)
	return resp.StatusCode, u
}

func TestLoginThenSession(t *testing.T) {
	a := New([]byte("k1"), fakeUsers{{ID: 7, Name: "User 7", Email: "user7@shop.example"}}, zap.NewNop())
	if err := a.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	srv := testServer(t, a)
	resp, err := testHTTP.Post(srv.URL+"/login", "application/json", strings.NewReader(`{"user_id":7}`))
	if err != nil {
		t.Fatal(err)
	}
	var lr struct {
		Token string `json:"token"`
		User  User   `json:"user"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&lr)
	resp.Body.Close()
	if resp.StatusCode != 200 || lr.Token == "" || lr.User.ID != 7 {
		t.Fatalf("login: %d %+v", resp.StatusCode, lr)
	}
	code, u := session(t, srv.URL, "Bearer "+lr.Token)
	if code != 200 || u.ID != 7 || u.Email != "user7@shop.example" {
		t.Errorf("session: %d %+v", code, u)
	}
	// Tampered, foreign-key and missing tokens are refused.
	forged := New([]byte("other"), nil, zap.NewNop()).Token(7)
	for _, h := range []string{"", "Bearer 8." + strings.Split(lr.Token, ".")[1], "Bearer " + forged, "Basic x"} {
		if code, _ := session(t, srv.URL, h); code != 401 {
			t.Errorf("session with %q = %d, want 401", h, code)
		}
	}
}

func TestLoginRejects(t *testing.T) {
	a := New([]byte("k"), downUsers{}, zap.NewNop())
	srv := testServer(t, a)
	// No user could be loaded yet: 503.
	resp, _ := testHTTP.Post(srv.URL+"/login", "application/json", strings.NewReader(`{"user_id":1}`))
	resp.Body.Close()
	if resp.StatusCode != 503 {
		t.Errorf("unloaded login = %d, want 503", resp.StatusCode)
	}
	// Once the database answers, the next request loads the users itself (no background refresh ran).
	a.SetSource(fakeUsers{{ID: 1}})
	for body, want := range map[string]int{`{"user_id":2}`: 401, `{}`: 400, `nope`: 400, `{"user_id":1}`: 200} {
		resp, _ := testHTTP.Post(srv.URL+"/login", "application/json", strings.NewReader(body))
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("login %s = %d, want %d", body, resp.StatusCode, want)
		}
	}
}

func TestTokensStableAcrossInstances(t *testing.T) {
	a, b := New([]byte("s"), nil, zap.NewNop()), New([]byte("s"), nil, zap.NewNop())
	if id, ok := b.Verify(a.Token(42)); !ok || id != 42 {
		t.Errorf("instance b rejected instance a's token: %d %v", id, ok)
	}
}
