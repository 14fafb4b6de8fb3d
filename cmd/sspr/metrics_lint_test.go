package main

import (
	"encoding/json"
	"net/http"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"go.yaml.in/yaml/v3"
)

// ldapDirectoryYAML replaces the embedded directory of serveYAML by an
// LDAP one nobody serves: serve does not contact it to start, and its
// metrics are registered.
const ldapDirectoryYAML = `
directory:
  type: openldap
  urls: [ldap://127.0.0.1:9]
  insecure_plain: true
  bind_dn: cn=sspr,dc=example,dc=org
  bind_password: ${SSPR_TEST_LDAP_PASSWORD}
  base_dn: dc=example,dc=org
  dial_timeout: 200ms
`

// scrapeMetrics starts serve with the LDAP directory and returns what
// its /metrics serves, parsed.
func scrapeMetrics(t *testing.T) map[string]*dto.MetricFamily {
	t.Helper()
	t.Setenv("SSPR_TEST_LDAP_PASSWORD", "not-a-real-password")
	file := writeServeConfig(t, "")
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	text := regexp.MustCompile(`(?s)\ndirectory:\n.*?\nstore:`).ReplaceAllLiteralString(string(b), ldapDirectoryYAML+"store:")
	if err := os.WriteFile(file, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	s := startServe(t, file)
	// A page, so that the portal's request metrics have a series.
	if code, _ := get(t, client(t), s.portal+"/"); code != http.StatusOK {
		t.Fatalf("GET /: %d", code)
	}
	res, err := http.Get(s.admin + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	p := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := p.TextToMetricFamilies(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return mfs
}

// TestMetricsLint: every metric serve registers passes the Prometheus
// linter and is named sspr_<subsystem>_<name>, but the Go runtime's and
// the process's.
func TestMetricsLint(t *testing.T) {
	mfs := scrapeMetrics(t)
	gather := prometheus.GathererFunc(func() ([]*dto.MetricFamily, error) {
		out := make([]*dto.MetricFamily, 0, len(mfs))
		for _, mf := range mfs {
			out = append(out, mf)
		}
		return out, nil
	})
	problems, err := testutil.GatherAndLint(gather)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("lint: %s: %s", p.Metric, p.Text)
	}
	valid := regexp.MustCompile(`^sspr_[a-z]+_[a-z_]+$`)
	subsystems := map[string]bool{}
	for name := range mfs {
		if strings.HasPrefix(name, "go_") || strings.HasPrefix(name, "process_") || strings.HasPrefix(name, "promhttp_") {
			continue
		}
		if !valid.MatchString(name) {
			t.Errorf("metric %s is not named sspr_<subsystem>_<name>_<unit>", name)
			continue
		}
		subsystems[strings.Split(name, "_")[1]] = true
	}
	for _, want := range []string{"sip", "media", "ivr", "directory", "portal", "store"} {
		if !subsystems[want] {
			t.Errorf("no metric of subsystem %s", want)
		}
	}
	for _, want := range []string{
		"sspr_sip_calls_total", "sspr_sip_call_setup_seconds", "sspr_sip_call_duration_seconds", "sspr_sip_calls_active",
		"sspr_media_digits_total", "sspr_media_rtp_packets_dropped_total", "sspr_portal_gate_results_total",
		"sspr_portal_resets_total", "sspr_portal_unlocks_total", "sspr_portal_lockouts_total", "sspr_portal_limit_refusals_total",
		"sspr_directory_operations_total", "sspr_directory_operation_seconds", "sspr_store_operation_duration_seconds",
		"sspr_portal_requests_total",
	} {
		if mfs[want] == nil {
			t.Errorf("no metric %s", want)
		}
	}

	// Every metric the dashboard and the alerts use exists.
	var dashboard map[string]any
	db, err := os.ReadFile("../../deploy/grafana-dashboard.json")
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(db, &dashboard); err != nil {
		t.Fatalf("grafana-dashboard.json: %v", err)
	}
	if p, _ := dashboard["panels"].([]any); len(p) == 0 {
		t.Error("the dashboard has no panels")
	}
	ab, err := os.ReadFile("../../deploy/prometheus-alerts.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var rules struct {
		Groups []struct {
			Name  string `yaml:"name"`
			Rules []struct {
				Alert       string            `yaml:"alert"`
				Expr        string            `yaml:"expr"`
				For         string            `yaml:"for"`
				Labels      map[string]string `yaml:"labels"`
				Annotations map[string]string `yaml:"annotations"`
			} `yaml:"rules"`
		} `yaml:"groups"`
	}
	dec := yaml.NewDecoder(strings.NewReader(string(ab)))
	dec.KnownFields(true)
	if err := dec.Decode(&rules); err != nil {
		t.Fatalf("prometheus-alerts.yaml: %v", err)
	}
	var alerts []string
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			if r.Alert == "" || r.Expr == "" || r.Annotations["summary"] == "" {
				t.Errorf("alert %q: alert, expr and a summary are required", r.Alert)
			}
			alerts = append(alerts, r.Alert)
		}
	}
	for _, want := range []string{"SSPRTrunkDown", "SSPRAnswerRateCollapse", "SSPRFraudReports", "SSPRRefusalSpike", "SSPRDirectoryErrors"} {
		if !slices.Contains(alerts, want) {
			t.Errorf("no alert %s", want)
		}
	}
	used := regexp.MustCompile(`sspr_[a-z_]+`)
	for file, text := range map[string]string{"grafana-dashboard.json": string(db), "prometheus-alerts.yaml": string(ab)} {
		for _, name := range used.FindAllString(text, -1) {
			base := name
			for _, suffix := range []string{"_bucket", "_sum", "_count"} {
				if mfs[base] == nil {
					base = strings.TrimSuffix(base, suffix)
				}
			}
			if mfs[base] == nil && name != "sspr_" {
				t.Errorf("%s uses %s, which sspr does not export", file, name)
			}
		}
	}
}
