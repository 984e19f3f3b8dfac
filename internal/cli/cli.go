// Package cli is the soloist command: its subcommands, flags and output.
// cmd/soloist only wires it to the process, so that the tests can run every
// command as a user would.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"sort"
	"strings"
	"text/tabwriter"
)

// Exit codes.
const (
	ExitOK    = 0 // success
	ExitError = 1 // anything else
	ExitUsage = 2 // a bad command line, flag, environment variable or DSN
)

// Version is set at build time with
// -ldflags "-X github.com/soloist-dev/soloist/internal/cli.Version=v1.2.3".
var Version = ""

// IO is the process around a command.
type IO struct {
	Stdin          io.Reader
	Stdout, Stderr io.Writer
	Getenv         func(string) string
	Environ        []string // the environment crontab commands start from
}

// DefaultIO is the real process's.
func DefaultIO() IO {
	return IO{Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr, Getenv: os.Getenv, Environ: os.Environ()}
}

// command is a subcommand.
type command struct {
	name    string
	args    string // the positional arguments, for usage
	summary string
	run     func(ctx context.Context, env *IO, args []string) error
}

func commands() []command {
	return []command{
		{"run", "[crontab]", "run a crontab's jobs on whichever runner of the group holds the lease", runCommand},
		{"migrate", "up|up-to V|down|down-to V|redo|reset|status|version", "install, upgrade or roll back the database schema", migrateCommand},
		{"status", "", "show who leads each group, and each job's last and next fire", statusCommand},
		{"runs", "", "show the run history", runsCommand},
		{"dashboard", "", "serve a read-only web dashboard of the groups, jobs and runs", dashboardCommand},
		{"release", "", "force the holder of a group's lease to step down", releaseCommand},
		{"repair", "", "mend a job's schedule after a fire claimed far in the future", repairCommand},
		{"pause", "", "stop every runner from firing a job", pauseCommand},
		{"resume", "", "let a paused job fire again", resumeCommand},
		{"allow", "", "add a host to a group's allow-list", allowCommand},
		{"disallow", "", "remove a host from a group's allow-list", disallowCommand},
		{"forget", "", "remove a group or job no runner uses any more; its runs stay", forgetCommand},
		{"grants", "", "print the GRANT statements for a database user's role", grantsCommand},
		{"version", "", "print the version", versionCommand},
	}
}

// usageError is a bad command line; it exits with ExitUsage.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error { return &usageError{fmt.Sprintf(format, args...)} }

// errHelp: --help was asked for and printed.
var errHelp = errors.New("help")

// Main runs the soloist command with args (without the program name) and
// returns the exit code.
func Main(ctx context.Context, args []string, env IO) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(env.Stdout)
		return ExitOK
	}
	if args[0] == "--version" || args[0] == "-v" {
		args[0] = "version"
	}
	for _, c := range commands() {
		if c.name != args[0] {
			continue
		}
		err := c.run(ctx, &env, args[1:])
		var ue *usageError
		switch {
		case err == nil, errors.Is(err, errHelp):
			return ExitOK
		case errors.As(err, &ue):
			fmt.Fprintf(env.Stderr, "soloist %s: %v\nRun 'soloist %s --help' for usage.\n", c.name, err, c.name)
			return ExitUsage
		default:
			fmt.Fprintf(env.Stderr, "soloist %s: %v\n", c.name, err)
			return ExitError
		}
	}
	fmt.Fprintf(env.Stderr, "soloist: unknown command %q\nRun 'soloist --help' for the commands.\n", args[0])
	return ExitUsage
}

func usage(w io.Writer) {
	fmt.Fprint(w, `soloist makes each job of a crontab run on exactly one server of many.

Usage:
  soloist <command> [flags]

Commands:
`)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, c := range commands() {
		fmt.Fprintf(tw, "  %s %s\t%s\n", c.name, c.args, c.summary)
	}
	tw.Flush()
	fmt.Fprint(w, `
Every flag can also be set in the environment: --dsn as SOLOIST_DSN,
--ttl as SOLOIST_TTL, and so on. Flags win over the environment.

Exit codes: 0 success, 1 failure, 2 bad usage.
Run 'soloist <command> --help' for a command's flags.
Docs: https://github.com/soloist-dev/soloist/tree/main/docs
`)
}

// BuildVersion is the version string: the -X value, else the module version
// and VCS revision the binary was built from.
func BuildVersion() string {
	if Version != "" {
		return Version
	}
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	v := info.Main.Version
	if v == "" || v == "(devel)" {
		v = "devel"
	}
	settings := map[string]string{}
	for _, s := range info.Settings {
		settings[s.Key] = s.Value
	}
	if rev := settings["vcs.revision"]; rev != "" {
		if len(rev) > 12 {
			rev = rev[:12]
		}
		v += " (" + rev
		if settings["vcs.modified"] == "true" {
			v += ", modified"
		}
		v += ")"
	} else if v == "devel" {
		v += " (no version stamped: build with make build or make dist, or go install with @version)"
	}
	return v
}

func versionCommand(_ context.Context, env *IO, args []string) error {
	fs := newFlags("version", "", "Print the version of this build.")
	if err := fs.parse(args, env); err != nil {
		return err
	}
	fmt.Fprintln(env.Stdout, "soloist", BuildVersion())
	return nil
}

// sortedKeys is a map's keys in order, for stable output.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// plural is "1 run" or "2 runs".
func plural(n int64, word string) string {
	if n == 1 {
		return fmt.Sprintf("%d %s", n, word)
	}
	return fmt.Sprintf("%d %ss", n, strings.TrimSuffix(word, "s"))
}
