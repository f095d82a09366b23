package deploy

import (
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

const (
	alertRules     = "prometheus/alerts.yaml"
	alertRuleTests = "prometheus/alerts_test.yaml"
)

// promtool returns the path of Prometheus' promtool, skipping the test when
// it is not installed, unless FLEXLABEL_TEST_NO_FALLBACK (set in CI) forbids
// the skip.
func promtool(t *testing.T) string {
	t.Helper()
	bin, err := exec.LookPath("promtool")
	if err != nil {
		if v, _ := strconv.ParseBool(os.Getenv("FLEXLABEL_TEST_NO_FALLBACK")); v {
			t.Fatal("promtool not found on PATH and FLEXLABEL_TEST_NO_FALLBACK=1 forbids skipping; install Debian's prometheus package")
		}
		t.Skip("promtool not found on PATH (Debian: apt-get install prometheus); the alert rules are not checked")
	}
	return bin
}

func runPromtool(t *testing.T, args ...string) {
	t.Helper()
	out, err := exec.Command(promtool(t), args...).CombinedOutput()
	if err != nil {
		t.Fatalf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

func TestAlertRules_PromtoolCheck(t *testing.T) {
	runPromtool(t, "check", "rules", alertRules)
}

func TestAlertRules_PromtoolTest(t *testing.T) {
	runPromtool(t, "test", "rules", alertRuleTests)
}

// TestAlertRules_EveryAlertTested checks that the promtool suite expects
// every alert of the rule file to fire at least once, so an alert added
// without a test fails here.
func TestAlertRules_EveryAlertTested(t *testing.T) {
	var rules struct {
		Groups []struct {
			Rules []struct {
				Alert string `yaml:"alert"`
			} `yaml:"rules"`
		} `yaml:"groups"`
	}
	if err := yaml.Unmarshal([]byte(readFile(t, alertRules)), &rules); err != nil {
		t.Fatalf("%s: %v", alertRules, err)
	}
	var suite struct {
		RuleFiles []string `yaml:"rule_files"`
		Tests     []struct {
			AlertRuleTest []struct {
				Alertname string `yaml:"alertname"`
				ExpAlerts []any  `yaml:"exp_alerts"`
			} `yaml:"alert_rule_test"`
		} `yaml:"tests"`
	}
	if err := yaml.Unmarshal([]byte(readFile(t, alertRuleTests)), &suite); err != nil {
		t.Fatalf("%s: %v", alertRuleTests, err)
	}
	if !slices.Equal(suite.RuleFiles, []string{"alerts.yaml"}) {
		t.Errorf("%s: rule_files = %v, want [alerts.yaml]", alertRuleTests, suite.RuleFiles)
	}
	fires := map[string]bool{}
	for _, tc := range suite.Tests {
		for _, a := range tc.AlertRuleTest {
			if len(a.ExpAlerts) > 0 {
				fires[a.Alertname] = true
			}
		}
	}
	n := 0
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			if r.Alert == "" {
				continue
			}
			n++
			if !fires[r.Alert] {
				t.Errorf("%s: no test expects %s to fire", alertRuleTests, r.Alert)
			}
		}
	}
	if n == 0 {
		t.Fatalf("%s: no alert found", alertRules)
	}
}

// TestAlertRules_RunbookLinksTheFile checks that docs/OPERATIONS.md points
// at the rule file rather than holding a copy that could drift from it.
func TestAlertRules_RunbookLinksTheFile(t *testing.T) {
	doc := readFile(t, "../docs/OPERATIONS.md")
	if !strings.Contains(doc, "deploy/"+alertRules) {
		t.Errorf("docs/OPERATIONS.md does not link deploy/%s", alertRules)
	}
	if strings.Contains(doc, "- alert: ") {
		t.Error("docs/OPERATIONS.md holds alert rules of its own; they belong in deploy/" + alertRules)
	}
}
