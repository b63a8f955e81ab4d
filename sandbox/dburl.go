package sandbox

import (
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
)

// DBLimits bound every database call the CLI makes, so a table a trainee locked in psql (BEGIN; LOCK TABLE
// orders;) gives a clear error instead of a command that hangs.
type DBLimits struct {
	Connect   time.Duration // connect_timeout
	Lock      time.Duration // lock_timeout: how long a statement waits for a lock
	Statement time.Duration // statement_timeout: how long a statement may run
}

// Limits for the CLI's reads (grade, flags, status) and for the trainee's own `sandbox sql` statements,
// which may legitimately take longer (an ALTER TABLE on a big table).
var (
	ReadLimits = DBLimits{Connect: 5 * time.Second, Lock: 5 * time.Second, Statement: 10 * time.Second}
	SQLLimits  = DBLimits{Connect: 5 * time.Second, Lock: 10 * time.Second, Statement: 2 * time.Minute}
)

// BoundedDBURL returns dbURL with the limits as connection parameters (pgx passes lock_timeout and
// statement_timeout to the server as session settings).
func BoundedDBURL(dbURL string, l DBLimits) (string, error) {
	u, err := url.Parse(dbURL)
	if err != nil {
		return "", fmt.Errorf("database url: %w", err)
	}
	q := u.Query()
	q.Set("connect_timeout", strconv.Itoa(int(l.Connect.Round(time.Second)/time.Second)))
	q.Set("lock_timeout", strconv.FormatInt(l.Lock.Milliseconds(), 10))
	q.Set("statement_timeout", strconv.FormatInt(l.Statement.Milliseconds(), 10))
	u.RawQuery = q.Encode()
	return u.String(), nil
}

// ExplainDBTimeout turns a lock or statement timeout into what the trainee can do about it; other errors
// pass through.
func ExplainDBTimeout(err error) error {
	var pg *pgconn.PgError
	timedOut := errors.As(err, &pg) && (pg.Code == "55P03" || pg.Code == "57014")
	// Some readers (dbstate.Poll) keep only the error's text.
	if err != nil && !timedOut {
		msg := err.Error()
		timedOut = strings.Contains(msg, "(SQLSTATE 55P03)") || strings.Contains(msg, "(SQLSTATE 57014)")
	}
	if timedOut {
		return fmt.Errorf("the database did not answer in time: is a table locked by an open transaction? "+
			"find it with `SELECT pid, state, query FROM pg_stat_activity WHERE state LIKE 'idle in transaction%%'` "+
			"and end it (COMMIT or ROLLBACK in your psql): %w", err)
	}
	return err
}
