//go:build deps

package deps

import (
	_ "github.com/docker/docker/client"
	_ "github.com/jackc/pgx/v5"
	_ "github.com/jackc/pgx/v5/stdlib"
	_ "github.com/pressly/goose/v3"
	_ "github.com/prometheus/client_golang/prometheus"
	_ "github.com/prometheus/common/expfmt"
	_ "github.com/spf13/cobra"
	_ "go.uber.org/zap"
	_ "github.com/olekukonko/tablewriter"
)
