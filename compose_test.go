package soloist_test

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/loader"
	"github.com/compose-spec/compose-go/v2/types"

	"github.com/soloist-dev/soloist/internal/cli"
	"github.com/soloist-dev/soloist/internal/crontab"
)

// loadCompose loads files, merged in order, with the Compose
// specification's own loader (no Docker engine runs here).
func loadCompose(t *testing.T, files ...string) (*types.Project, string) {
	t.Helper()
	wd, _ := os.Getwd()
	var configs []types.ConfigFile
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		configs = append(configs, types.ConfigFile{Filename: f, Content: b})
	}
	p, err := loader.LoadWithContext(context.Background(), types.ConfigDetails{
		WorkingDir:  wd,
		ConfigFiles: configs,
		Environment: types.Mapping{},
	}, func(o *loader.Options) { o.SetProjectName("soloist-demo", true) })
	if err != nil {
		t.Fatalf("%v: %v", files, err)
	}
	return p, wd
}

// TestComposeFileIsValid loads compose.yaml and checks that it wires what the
// README promises, on MariaDB 10.11, the engine the test suite runs.
func TestComposeFileIsValid(t *testing.T) {
	p, wd := loadCompose(t, "compose.yaml")
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

	db := svc("db")
	if db.Image != "mariadb:10.11" || db.HealthCheck == nil || !slices.Contains(db.HealthCheck.Test, "mariadb-admin") {
		t.Errorf("db: image %q, health check %+v", db.Image, db.HealthCheck)
	}
	if db.Environment["MARIADB_DATABASE"] == nil || *db.Environment["MARIADB_DATABASE"] != "soloist" {
		t.Errorf("db does not create the soloist database: %v", db.Environment)
	}
	migrate := svc("migrate")
	if migrate.Build == nil || strings.Join(migrate.Command, " ") != "migrate up" {
		t.Errorf("migrate: build %+v, command %v", migrate.Build, migrate.Command)
	}
	dependsOn(migrate, "db", types.ServiceConditionHealthy)

	grants := svc("grants")
	dependsOn(grants, "migrate", types.ServiceConditionCompletedSuccessfully)
	want, err := cli.Grants("runner", "'runner'@'%'", "soloist")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(grants.Entrypoint, " ") != "mariadb" || grants.Image != db.Image {
		t.Errorf("grants: entrypoint %v, image %q; want the mariadb client of %q", grants.Entrypoint, grants.Image, db.Image)
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

// TestComposeMySQLVariantSwapsOnlyTheServer loads compose.yaml merged with
// compose.mysql.yaml: the server and the grants client become MySQL 8.4's,
// and everything else stays as compose.yaml has it.
func TestComposeMySQLVariantSwapsOnlyTheServer(t *testing.T) {
	base, _ := loadCompose(t, "compose.yaml")
	p, _ := loadCompose(t, "compose.yaml", "compose.mysql.yaml")
	db := p.Services["db"]
	if db.Image != "mysql:8.4" || db.HealthCheck == nil || !slices.Contains(db.HealthCheck.Test, "mysqladmin") {
		t.Errorf("db: image %q, health check %+v", db.Image, db.HealthCheck)
	}
	if db.Environment["MYSQL_DATABASE"] == nil || *db.Environment["MYSQL_DATABASE"] != "soloist" ||
		db.Environment["MYSQL_ROOT_PASSWORD"] == nil {
		t.Errorf("db: MySQL's image needs MYSQL_DATABASE and MYSQL_ROOT_PASSWORD: %v", db.Environment)
	}
	grants := p.Services["grants"]
	if grants.Image != "mysql:8.4" || strings.Join(grants.Entrypoint, " ") != "mysql" {
		t.Errorf("grants: image %q, entrypoint %v", grants.Image, grants.Entrypoint)
	}
	if got, want := strings.Join(grants.Command, " "), strings.Join(base.Services["grants"].Command, " "); got != want {
		t.Errorf("grants runs other statements on MySQL:\n%s\nwant:\n%s", got, want)
	}
	for _, name := range []string{"migrate", "runner-1", "runner-2", "runner-3"} {
		if !reflect.DeepEqual(p.Services[name], base.Services[name]) {
			t.Errorf("%s differs between the MariaDB and the MySQL variant", name)
		}
	}
}
