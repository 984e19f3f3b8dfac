package soloist_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/soloist-dev/soloist/internal/spawn"
)

// walkthrough is the README section whose blocks TestREADMEWalkthrough runs.
const walkthrough = "## From a crontab on three servers to each job on exactly one"

// readmeBlocks returns the fenced blocks of the given language in the
// README's walkthrough, in order.
func readmeBlocks(t *testing.T, lang string) []string {
	t.Helper()
	b, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	text := string(b)
	i := strings.Index(text, walkthrough)
	if i < 0 {
		t.Fatalf("README.md has no section %q", walkthrough)
	}
	text = text[i+len(walkthrough):]
	if j := strings.Index(text, "\n## "); j >= 0 {
		text = text[:j]
	}
	var blocks []string
	var cur *strings.Builder
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		line := sc.Text()
		switch {
		case cur == nil && line == "```"+lang:
			cur = &strings.Builder{}
		case cur != nil && line == "```":
			blocks = append(blocks, cur.String())
			cur = nil
		case cur != nil:
			cur.WriteString(line + "\n")
		}
	}
	return blocks
}

// walkHarness runs inside new mount, network and PID namespaces, so that the
// README's names mean what they say: db:3306 is a throwaway MariaDB on the
// namespace's own loopback, /etc/soloist/crontab is the README's crontab,
// and `mysql` reaches the server as an admin through its default socket.
// Everything the walk starts in the background ends with the namespace.
const walkHarness = `set -euo pipefail
ip link set lo up
# /etc as it is, plus db in /etc/hosts and the README's crontab.
mkdir "$WALK/etc"
mount -t tmpfs tmpfs "$WALK/etc"
cp -a /etc/. "$WALK/etc/"
printf '127.0.0.1 db\n' >> "$WALK/etc/hosts"
mkdir -p "$WALK/etc/soloist"
cp "$WALK/crontab" "$WALK/etc/soloist/crontab"
mount --bind "$WALK/etc" /etc
mount -t tmpfs tmpfs /run
mkdir -p /run/mysqld
mariadb-install-db --no-defaults --datadir="$WALK/data" --user=root \
  --auth-root-authentication-method=normal --skip-test-db >"$WALK/install.log" 2>&1
mariadbd --no-defaults --datadir="$WALK/data" --socket=/run/mysqld/mysqld.sock \
  --port=3306 --bind-address=127.0.0.1 --user=root >"$WALK/server.log" 2>&1 &
for i in $(seq 300); do
  mysql -e 'SELECT 1' >/dev/null 2>&1 && break
  sleep 0.1
done
mysql -e 'SELECT 1' >/dev/null
cd "$WALK/home"
for block in "$WALK"/block-*.sh; do
  echo "== $(basename "$block")"
  . "$block"
done
echo "== the walk ran to its end"
`

// TestREADMEWalkthrough runs the shell blocks of the README's walkthrough
// exactly as written, in order, in one shell, against a throwaway MariaDB
// that answers at db:3306, with the soloist binary built from this tree on
// PATH. A README edit that breaks the walk fails it.
func TestREADMEWalkthrough(t *testing.T) {
	t.Parallel()
	for _, tool := range []string{"unshare", "mount", "ip", "mariadbd", "mariadb-install-db", "mysql"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("the README walkthrough needs %s: install util-linux, iproute2 and mariadb-server (apt-get install -y util-linux iproute2 mariadb-server)", tool)
		}
	}
	if os.Geteuid() != 0 {
		t.Fatal("the README walkthrough runs in its own mount and network namespace: run the tests as root")
	}
	sh := readmeBlocks(t, "sh")
	crontabs := readmeBlocks(t, "crontab")
	if len(sh) < 4 || len(crontabs) != 1 {
		t.Fatalf("the walkthrough has %d sh blocks and %d crontab blocks, want at least 4 and exactly 1", len(sh), len(crontabs))
	}
	joined := strings.Join(sh, "")
	for _, want := range []string{"CREATE USER 'soloist_migrator'", "CREATE USER 'soloist_runner'", "CREATE USER 'soloist_operator'", "soloist migrate up", "soloist run", "soloist pause", "soloist allow"} {
		if !strings.Contains(joined, want) {
			t.Errorf("the walkthrough no longer runs %q", want)
		}
	}

	walk := t.TempDir()
	bin := filepath.Join(walk, "bin")
	if err := os.Mkdir(bin, 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := spawn.Build(bin, spawn.SoloistPackage); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(walk, "home"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(walk, "crontab"), []byte(crontabs[0]), 0o644); err != nil {
		t.Fatal(err)
	}
	for i, b := range sh {
		if err := os.WriteFile(filepath.Join(walk, fmt.Sprintf("block-%02d.sh", i+1)), []byte(b), 0o644); err != nil {
			t.Fatal(err)
		}
	}

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "unshare", "--mount", "--net", "--pid", "--fork", "--mount-proc",
		"bash", "-c", walkHarness)
	cmd.Env = []string{
		"WALK=" + walk,
		"HOME=" + filepath.Join(walk, "home"),
		"PATH=" + bin + ":" + os.Getenv("PATH"),
		"LANG=C.UTF-8",
	}
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "== the walk ran to its end") {
		server, _ := os.ReadFile(filepath.Join(walk, "server.log"))
		t.Fatalf("the README walkthrough failed: %v\n%s\n-- server log:\n%s", err, out, server)
	}
	t.Logf("%s", out)
}
