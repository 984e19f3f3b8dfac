package soloist_test

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/loader"
	"github.com/compose-spec/compose-go/v2/types"

	"github.com/soloist-dev/soloist/internal/cli"
	"github.com/soloist-dev/soloist/internal/crontab"
)

// TestComposeFileIsValid loads compose.yaml with the Compose specification's
// own loader (no Docker engine runs here) and checks that it wires what the
// README promises.
func TestComposeFileIsValid(t *testing.T) {
	b, err := os.ReadFile("compose.yaml")
	if err != nil {
		t.Fatal(err)
	}
	wd, _ := os.Getwd()
	p, err := loader.LoadWithContext(context.Background(), types.ConfigDetails{
		WorkingDir:  wd,
		ConfigFiles: []types.ConfigFile{{Filename: "compose.yaml", Content: b}},
		Environment: types.Mapping{},
	}, func(o *loader.Options) { o.SetProjectName("soloist-demo", true) })
	if err != nil {
		t.Fatalf("compose.yaml: %v", err)
	}
	svc := func(name string) types.ServiceConfig {
		s, ok := p.Services[name]
		if !ok {
			t.Fatalf("compose.yaml has no service %q", name)
		}
		return s
	}
	dependsOn := func(s types.ServiceConfig, on, condition string) {
		t.Helper()
		if d, ok := s.DependsOn[on]; !ok || d.Condition != condition {
			t.Errorf("%s should depend on %s with condition %s, has %+v", s.Name, on, condition, s.DependsOn)
		}
	}

	mysql := svc("mysql")
	if mysql.Image != "mysql:8.4" || mysql.HealthCheck == nil || len(mysql.HealthCheck.Test) == 0 {
		t.Errorf("mysql: image %q, health check %+v", mysql.Image, mysql.HealthCheck)
	}
	migrate := svc("migrate")
	if migrate.Build == nil || strings.Join(migrate.Command, " ") != "migrate up" {
		t.Errorf("migrate: build %+v, command %v", migrate.Build, migrate.Command)
	}
	dependsOn(migrate, "mysql", types.ServiceConditionHealthy)

	grants := svc("grants")
	dependsOn(grants, "migrate", types.ServiceConditionCompletedSuccessfully)
	want, err := cli.Grants("runner", "'runner'@'%'", "soloist")
	if err != nil {
		t.Fatal(err)
	}
	sqlText := strings.Join(grants.Command, " ")
	for _, g := range want {
		if !strings.Contains(sqlText, g+";") {
			t.Errorf("the grants service lacks %q", g)
		}
	}
	if n := strings.Count(sqlText, "GRANT "); n != len(want) {
		t.Errorf("the grants service grants %d things; soloist grants --role runner prints %d", n, len(want))
	}

	var runners []string
	for name, s := range p.Services {
		if !strings.HasPrefix(name, "runner-") {
			continue
		}
		runners = append(runners, name)
		dependsOn(s, "grants", types.ServiceConditionCompletedSuccessfully)
		if s.Build == nil || s.Build.Context != wd {
			t.Errorf("%s is not built from the repository's Dockerfile: %+v", name, s.Build)
		}
		if s.Environment["SOLOIST_DSN"] == nil || !strings.HasPrefix(*s.Environment["SOLOIST_DSN"], "runner:") {
			t.Errorf("%s does not connect as the EXECUTE-only runner user", name)
		}
		if len(s.Volumes) != 1 || s.Volumes[0].Target != "/etc/soloist/crontab" {
			t.Fatalf("%s mounts %+v", name, s.Volumes)
		}
		if _, err := crontab.ParseFile(s.Volumes[0].Source, nil); err != nil {
			t.Errorf("%s's crontab: %v", name, err)
		}
	}
	slices.Sort(runners)
	if !slices.Equal(runners, []string{"runner-1", "runner-2", "runner-3"}) {
		t.Errorf("runners %v, want three", runners)
	}
	dockerfile, err := os.ReadFile(filepath.Join(wd, "Dockerfile"))
	if err != nil || !strings.Contains(string(dockerfile), "./cmd/soloist") {
		t.Errorf("Dockerfile does not build ./cmd/soloist: %v", err)
	}
}
