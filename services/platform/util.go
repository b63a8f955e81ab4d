package platform

import (
	"encoding/json"
	"io"
	"time"

	"go.uber.org/zap/zapcore"
)

func zapTimeEncoder(t time.Time, enc zapcore.PrimitiveArrayEncoder) {
	enc.AppendString(t.UTC().Format(time.RFC3339Nano))
}

func jsonEncoder(w io.Writer) *json.Encoder { return json.NewEncoder(w) }
