package status

import "time"

// DBState is one poll of the shop's database: the body of the control room's GET /api/state, and what the
// grader parses it into. The control room and the grader share this one type, so a field the grader reads is
// a field the control room serves.
type DBState struct {
	At               time.Time `json:"at"`
	OK               bool      `json:"ok"` // the poll reached the database and read everything
	Error            string    `json:"error,omitempty"`
	OrdersTable      bool      `json:"orders_table"`
	OrderMetadata    Column    `json:"order_metadata"`
	MigrationVersion int64     `json:"migration_version"`
	Flags            []Flag    `json:"flags"`
	Orders           int64     `json:"orders"`
	MetadataRows     int64     `json:"metadata_rows"` // orders whose order_metadata is present and not '{}'
	MaxOrderID       int64     `json:"max_order_id"`
	// Integrity is the control room's watch over the rows it has seen. Only the control room keeps that
	// baseline: a direct read of the database leaves it nil.
	Integrity *Integrity `json:"integrity,omitempty"`
}

// Column describes orders.order_metadata as information_schema reports it.
type Column struct {
	Exists   bool    `json:"exists"`
	Nullable bool    `json:"nullable"`
	Default  *string `json:"default"` // column_default, null when none
	DataType string  `json:"data_type,omitempty"`
}

// HasDefault reports whether the column has a default expression.
func (c Column) HasDefault() bool { return c.Default != nil && *c.Default != "" }

// Integrity summarises the control room's watch over rows already seen: every orders and payments row at or
// below its table's high-water mark is expected to stay, and every order whose order_metadata carried data
// (anything but NULL and '{}') is expected to keep it. A change to either is recorded as a data_loss event.
type Integrity struct {
	Since time.Time `json:"since"` // when the watch took its first baseline
	// VerifiedAt: every watched row was found as expected (or its loss recorded) by a check at or after this
	// instant. Zero until each row has been checked once since the control room started.
	VerifiedAt time.Time    `json:"verified_at"`
	Error      string       `json:"error,omitempty"` // why the last check could not run
	Tables     []TableWatch `json:"tables"`
}

// TableWatch is one watched table.
type TableWatch struct {
	Table        string `json:"table"`
	HighWater    int64  `json:"high_water"`              // highest id seen
	Rows         int64  `json:"rows"`                    // watched rows present at the last check
	MetadataRows int64  `json:"metadata_rows,omitempty"` // of those, orders whose order_metadata is watched
}

// Keys of a data_loss event's Data. One event is recorded per table and check that found rows lost.
const (
	LossTable        = "table"            // "orders" or "payments"
	LossRows         = "rows"             // rows lost: deleted + overwritten
	LossDeleted      = "rows_deleted"     // watched rows that no longer exist
	LossOverwritten  = "rows_overwritten" // orders whose order_metadata was changed, blanked, nulled or dropped
	LossMetadataRows = "metadata_rows"    // of the rows lost, orders that carried order_metadata
	LossIDs          = "ids"              // the first ids lost, comma separated
	LossCause        = "cause"            // what the control room saw happen (one of the Cause* values)
	LossColumn       = "column_exists"    // orders: whether order_metadata exists after the loss
)

// Causes a data_loss event names.
const (
	CauseRowsDeleted    = "rows_deleted"
	CauseOverwritten    = "metadata_overwritten"
	CauseColumnDropped  = "column_dropped"
	CauseColumnReplaced = "column_replaced" // dropped and added again
	CauseTableDropped   = "table_dropped"
	CauseTableEmptied   = "table_truncated"
)
