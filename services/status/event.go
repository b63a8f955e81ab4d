package status

import "time"

// Event is one entry of the control room's timeline: the grader's evidence. Events are appended, never
// edited; the control room persists them in its volume.
type Event struct {
	Seq     int64             `json:"seq"`
	At      time.Time         `json:"at"`
	Kind    string            `json:"kind"`
	Actor   string            `json:"actor"` // "cli", "pipeline", "observed" (seen in live state), "trainee"
	Service string            `json:"service,omitempty"`
	From    string            `json:"from,omitempty"`
	To      string            `json:"to,omitempty"`
	Detail  string            `json:"detail,omitempty"`
	Data    map[string]string `json:"data,omitempty"`
}

// Event kinds. Posted by the CLI unless marked observed (the control room sees them in live state, however
// they were made: sandbox command, docker, psql).
const (
	EventSandboxUp        = "sandbox_up"        // CLI: sandbox created (Data: faults, seed, baseline)
	EventDeployStarted    = "deploy_started"    // CLI/pipeline: From -> To for Service ("all" for a release)
	EventDeployFinished   = "deploy_finished"   // CLI/pipeline
	EventRollback         = "rollback"          // CLI: a rollback was requested (Service, From, To)
	EventMigration        = "migration"         // CLI: Detail "up 5" / "down 5"
	EventReleaseCreated   = "release_created"   // CLI: To = new version, Data: reverted, patches
	EventCommand          = "command"           // CLI: a sandbox command the trainee ran (Detail = argv)
	EventHint             = "hint"              // CLI: Data: symptom, level
	EventAnswer           = "answer"            // CLI: Data: the recorded answers
	EventVersionObserved  = "version_change"    // observed: a role's set of live versions changed
	EventSchemaObserved   = "schema_change"     // observed: orders.order_metadata nullable/default/exists changed
	EventMigrationVersion = "migration_version" // observed: goose version changed
	EventFlagObserved     = "flag_change"       // observed: a feature flag row changed
	EventSpikeStart       = "spike_start"       // observed: edge error rate crossed above 5%
	EventRecovered        = "recovered"         // observed: edge error rate back under 1% after a spike
	EventDataLoss         = "data_loss"         // observed: order_metadata rows disappeared (Data: rows)
)
