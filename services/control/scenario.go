package control

import (
	"encoding/json"
	"fmt"
	"time"
)

// Scenario is the scenario clock: the deploy happens at 14:00 scenario time and scenario time runs Factor
// times faster than wall time.
type Scenario struct {
	DeployAt time.Time `json:"deploy_at,omitempty"`
	Factor   float64   `json:"factor"`
}

// scenarioJSON accepts deploy_at as an RFC3339 string or empty.
type scenarioJSON struct {
	DeployAt string   `json:"deploy_at"`
	Factor   *float64 `json:"factor"`
}

// DefaultFactor compresses the card's 15 scenario minutes into one wall minute.
const DefaultFactor = 15

// ParseScenario reads SANDBOX_SCENARIO; empty means no deploy yet and the default factor.
func ParseScenario(s string) (Scenario, error) {
	sc := Scenario{Factor: DefaultFactor}
	if s == "" {
		return sc, nil
	}
	var j scenarioJSON
	if err := json.Unmarshal([]byte(s), &j); err != nil {
		return sc, fmt.Errorf("scenario json: %w", err)
	}
	return sc.merge(j)
}

func (sc Scenario) merge(j scenarioJSON) (Scenario, error) {
	if j.DeployAt != "" {
		t, err := time.Parse(time.RFC3339, j.DeployAt)
		if err != nil {
			return sc, fmt.Errorf("deploy_at: %w", err)
		}
		sc.DeployAt = t.UTC()
	}
	if j.Factor != nil {
		if *j.Factor <= 0 {
			return sc, fmt.Errorf("factor must be positive")
		}
		sc.Factor = *j.Factor
	}
	return sc, nil
}

// Clock formats scenario time at now as "HH:MM"; empty until a deploy time is known.
func (sc Scenario) Clock(now time.Time) string {
	if sc.DeployAt.IsZero() {
		return ""
	}
	f := sc.Factor
	if f <= 0 {
		f = DefaultFactor
	}
	offset := time.Duration(float64(now.Sub(sc.DeployAt)) * f)
	// Before the deploy the offset is negative: 15 scenario minutes early shows 13:45.
	return time.Date(2000, 1, 1, 14, 0, 0, 0, time.UTC).Add(offset).Format("15:04")
}
