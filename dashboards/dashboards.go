// Package dashboards holds the sandbox's observability files: a Prometheus scrape config and alert rules, a
// Grafana dashboard and Grafana's provisioning files. They are plain files, usable by hand (see README.md),
// and embedded here so `sandbox up --observability` ships exactly the bytes the tests check.
package dashboards

import "embed"

// File names inside FS.
const (
	PrometheusConfig  = "prometheus.yml"
	AlertRules        = "alerts.yml"
	GrafanaDashboard  = "sandbox-shop.json"
	GrafanaDatasource = "grafana/provisioning/datasources/prometheus.yml"
	GrafanaProvider   = "grafana/provisioning/dashboards/sandbox.yml"
)

// DatasourceUID is the Prometheus datasource's uid in GrafanaDatasource; every dashboard panel refers to it.
const DatasourceUID = "prometheus"

// GrafanaDashboardDir is where GrafanaProvider loads dashboards from inside a Grafana container.
const GrafanaDashboardDir = "/var/lib/grafana/dashboards"

// FS holds the files named above.
//
//go:embed prometheus.yml alerts.yml sandbox-shop.json grafana/provisioning/datasources/prometheus.yml grafana/provisioning/dashboards/sandbox.yml
var FS embed.FS
