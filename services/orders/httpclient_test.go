package orders

import (
	"net/http"
	"time"
)

// testHTTP is every HTTP call's client in this package's tests: a server that hangs fails the test in
// time instead of holding the suite until go test's own timeout.
var testHTTP = &http.Client{Timeout: 30 * time.Second}
