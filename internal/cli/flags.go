package cli

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/go-sql-driver/mysql"
	"github.com/spf13/pflag"
)

// flags is a command's flag set. Every flag has an environment twin,
// SOLOIST_ and its name in capitals with - as _, which --help shows.
type flags struct {
	*pflag.FlagSet
	name, args, about string
	dsn, dsnFile      *string // set by dsnFlag
	dsnInArgs         bool    // --dsn was on the command line, where ps shows it
}

func newFlags(name, args, about string) *flags {
	fs := pflag.NewFlagSet(name, pflag.ContinueOnError)
	fs.SortFlags = false
	return &flags{FlagSet: fs, name: name, args: args, about: about}
}

// EnvName is the environment variable that sets flag name.
func EnvName(name string) string {
	return "SOLOIST_" + strings.ToUpper(strings.ReplaceAll(name, "-", "_"))
}

func (f *flags) usage(w io.Writer) {
	fmt.Fprintf(w, "Usage: soloist %s", f.name)
	if f.args != "" {
		fmt.Fprintf(w, " %s", f.args)
	}
	fmt.Fprintf(w, " [flags]\n\n%s\n\nFlags:\n", f.about)
	f.VisitAll(func(fl *pflag.Flag) {
		if fl.Name != "help" && !strings.Contains(fl.Usage, "(env ") {
			fl.Usage += fmt.Sprintf(" (env %s)", EnvName(fl.Name))
		}
	})
	f.SetOutput(w)
	f.PrintDefaults()
}

// parse parses args, then fills every flag the command line did not set from
// its environment variable.
func (f *flags) parse(args []string, env *IO) error {
	f.SetOutput(io.Discard)
	f.Bool("help", false, "show this help")
	f.Lookup("help").Shorthand = "h"
	err := f.Parse(args)
	if errors.Is(err, pflag.ErrHelp) || err == nil && f.Changed("help") {
		f.usage(env.Stdout)
		return errHelp
	}
	if err != nil {
		return usagef("%v", err)
	}
	f.dsnInArgs = f.Changed("dsn")
	// A DSN given on the command line, as --dsn or --dsn-file, overrides
	// both environment variables, as flags override the environment.
	dsnOnLine := f.Changed("dsn") || f.Changed("dsn-file")
	var envErr error
	f.VisitAll(func(fl *pflag.Flag) {
		if fl.Changed || fl.Name == "help" || envErr != nil {
			return
		}
		if dsnOnLine && (fl.Name == "dsn" || fl.Name == "dsn-file") {
			return
		}
		v := env.Getenv(EnvName(fl.Name))
		if v == "" {
			return
		}
		if err := f.Set(fl.Name, v); err != nil {
			envErr = usagef("%s=%q: %v", EnvName(fl.Name), v, err)
		}
	})
	if envErr != nil {
		return envErr
	}
	if err := f.checkDurations(); err != nil {
		return err
	}
	return f.readDSNFile()
}

// checkDurations refuses a negative value of any duration flag: none of
// them has a meaning below zero.
func (f *flags) checkDurations() error {
	var err error
	f.VisitAll(func(fl *pflag.Flag) {
		if fl.Value.Type() != "duration" || err != nil {
			return
		}
		if v, perr := f.GetDuration(fl.Name); perr == nil && v < 0 {
			err = usagef("--%s %v: a duration must not be negative", fl.Name, v)
		}
	})
	return err
}

// logOptions are the logging flags of the long-running commands.
type logOptions struct {
	format, level string
}

func (f *flags) logFlags() *logOptions {
	o := &logOptions{}
	f.StringVar(&o.format, "log-format", "text", "log format: text or json")
	f.StringVar(&o.level, "log-level", "info", "least level logged: debug, info, warn or error")
	return o
}

// logger builds the command's logger on w.
func (o *logOptions) logger(w io.Writer) (*slog.Logger, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(o.level)); err != nil {
		return nil, usagef("--log-level %q: want debug, info, warn or error", o.level)
	}
	opts := &slog.HandlerOptions{Level: level, ReplaceAttr: durationStrings}
	var l *slog.Logger
	switch o.format {
	case "text":
		l = slog.New(slog.NewTextHandler(w, opts))
	case "json":
		l = slog.New(slog.NewJSONHandler(w, opts))
	default:
		return nil, usagef("--log-format %q: want text or json", o.format)
	}
	// The driver logs broken connections on its own; keep them in our log.
	_ = mysql.SetLogger(driverLog{l})
	return l, nil
}

// durationStrings writes durations as Go duration strings ("10s", "1.5ms")
// in both formats: the JSON handler would write nanoseconds.
func durationStrings(_ []string, a slog.Attr) slog.Attr {
	if a.Value.Kind() == slog.KindDuration {
		return slog.String(a.Key, a.Value.Duration().String())
	}
	return a
}

type driverLog struct{ l *slog.Logger }

func (d driverLog) Print(v ...any) {
	d.l.Debug("mysql driver", "message", strings.TrimSpace(fmt.Sprint(v...)))
}
