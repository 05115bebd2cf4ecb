// Command vigil-agent runs on each agent workstation: it senses the
// desktop session (input idle time, the Agent Desk window, screen lock,
// microphone voice activity) for the Vigil coordinator.
//
// Usage:
//
//	vigil-agent <command> [flags]
//
// Every command's flags can also be set through the environment: flag
// --agent-desk-title is VIGIL_AGENT_DESK_TITLE, and so on (upper case, "-"
// becomes "_"); a flag on the command line wins over the environment.
// Commands with a --config flag also read "key = value" lines from that
// file, below the environment (see config.go).
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
)

// command is one subcommand. run gets the arguments after the command's
// name; it returns a usageError for bad flags or arguments.
type command struct {
	name    string
	summary string
	run     func(args []string) error
}

// commands lists the subcommands in the order help shows them. Add new
// ones here (each in its own file, with its own FlagSet from newFlagSet).
var commands = []command{
	{"session", "report this desktop session to the coordinator and show its inactivity warnings", runSession},
	{"enroll", "exchange an enrollment token for this workstation's device token", runEnroll},
	{"doctor", "read every sensor once (or --watch them) and print the result; never prints window titles", runDoctor},
	{"install", "install the system service (writes its config: --coordinator, --enroll-token)", runInstall},
	{"uninstall", "stop and remove the system service (its config file stays)", runUninstall},
	{"start", "start the system service", runStart},
	{"stop", "stop the system service", runStop},
	{"restart", "restart the system service", runRestart},
	{"status", "print the system service's status (running, stopped, not installed)", runStatus},
	{"service", "run as the system service (what the service manager starts): one helper per desktop session", runService},
}

func main() {
	os.Exit(dispatch(os.Args[1:], os.Stderr))
}

// dispatch runs the command named by args[0] and returns the exit status:
// 0 on success, 1 on failure, 2 on a usage error.
func dispatch(args []string, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" || args[0] == "-help" {
		if len(args) > 1 {
			// "help doctor" is "doctor --help".
			return dispatch([]string{args[1], "--help"}, stderr)
		}
		usage(stderr)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	for _, c := range commands {
		if c.name != args[0] {
			continue
		}
		err := c.run(args[1:])
		var ue usageError
		switch {
		case err == nil:
			return 0
		case errors.Is(err, flag.ErrHelp):
			return 0
		case errors.As(err, &ue):
			fmt.Fprintf(stderr, "vigil-agent %s: %v\n", c.name, err)
			return 2
		default:
			fmt.Fprintf(stderr, "vigil-agent %s: %v\n", c.name, err)
			return 1
		}
	}
	fmt.Fprintf(stderr, "vigil-agent: unknown command %q\n\n", args[0])
	usage(stderr)
	return 2
}

func usage(w io.Writer) {
	fmt.Fprintf(w, "Usage: vigil-agent <command> [flags]\n\nCommands:\n")
	for _, c := range commands {
		fmt.Fprintf(w, "  %-10s %s\n", c.name, c.summary)
	}
	fmt.Fprintf(w, "\nRun 'vigil-agent <command> --help' for a command's flags. Every flag can also be\nset as VIGIL_<FLAG> in the environment (--mic-device: VIGIL_MIC_DEVICE), and\nfor session, enroll and service in a --config file of \"flag = value\" lines.\n")
}

// usageError is a bad command line or environment setting (exit status 2).
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

// newFlagSet returns a FlagSet for a subcommand whose usage lists each
// flag's environment variable.
func newFlagSet(name, synopsis string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.Usage = func() {
		w := fs.Output()
		fmt.Fprintf(w, "Usage: vigil-agent %s %s\n\nFlags (and their environment variables):\n", name, synopsis)
		fs.VisitAll(func(f *flag.Flag) {
			typ, help := flag.UnquoteUsage(f)
			fmt.Fprintf(w, "  --%s %s  ($%s)\n    \t%s", f.Name, typ, envName(f.Name), strings.ReplaceAll(help, "\n", "\n    \t"))
			if f.DefValue != "" && f.DefValue != "false" && f.DefValue != "0" {
				fmt.Fprintf(w, " (default %s)", f.DefValue)
			}
			fmt.Fprintln(w)
		})
	}
	return fs
}

// envName is the environment variable mirroring a flag: VIGIL_ and the
// flag's name in upper case with "-" as "_".
func envName(flagName string) string {
	return "VIGIL_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// parseFlags applies the VIGIL_* environment to fs's flags, then parses
// args over it (the command line wins). lookup is os.LookupEnv outside
// tests. Extra positional arguments are a usage error.
func parseFlags(fs *flag.FlagSet, args []string, lookup func(string) (string, bool)) error {
	var envErr error
	fs.VisitAll(func(f *flag.Flag) {
		v, ok := lookup(envName(f.Name))
		if !ok || envErr != nil {
			return
		}
		if err := fs.Set(f.Name, v); err != nil {
			envErr = fmt.Errorf("$%s=%q: %v", envName(f.Name), v, err)
		}
	})
	if envErr != nil {
		return usageError{envErr}
	}
	fs.SetOutput(io.Discard) // errors are reported once, by dispatch
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fs.SetOutput(os.Stderr)
			fs.Usage()
			return err
		}
		return usageError{err}
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Errorf("unexpected arguments: %q", fs.Args())}
	}
	// A command with a --config flag also reads settings from that file,
	// below the environment and the command line.
	if cf := fs.Lookup("config"); cf != nil && cf.Value.String() != "" {
		if err := applyConfig(fs, cf.Value.String()); err != nil {
			return usageError{err}
		}
	}
	return nil
}
