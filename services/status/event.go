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
	// Prev and Hash chain the record: Hash = ChainHash(event with Hash empty), Prev = the previous event's
	// Hash. The control room sets both; the grader verifies the chain (VerifyChain).
	Prev string `json:"prev,omitempty"`
	Hash string `json:"hash,omitempty"`
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
	EventDataLoss         = "data_loss"         // observed: seen rows deleted or their order_metadata overwritten (Data: Loss* keys)
	EventObservedInitial  = "observed_initial"  // observed: the state the control room first saw
	EventRolloutScheduled = "rollout_scheduled" // CLI: the v2.4.0 rollout is due at Data["due"] (RFC3339)
	EventAttemptEnded     = "attempt_ended"     // CLI: `sandbox grade` ended the attempt (Data: verdict)
)

// observedKinds are written only by the control room's observer; its write API refuses them.
var observedKinds = map[string]bool{
	EventVersionObserved: true, EventSchemaObserved: true, EventMigrationVersion: true, EventFlagObserved: true,
	EventSpikeStart: true, EventRecovered: true, EventDataLoss: true, EventObservedInitial: true,
}

// ObservedOnly reports whether kind may only be recorded by the control room's own observer.
func ObservedOnly(kind string) bool { return observedKinds[kind] }
