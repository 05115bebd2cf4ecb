package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"strings"
	"time"

	"github.com/vigil-cc/vigil/coordinator"
	"github.com/vigil-cc/vigil/coordinator/account"
	"github.com/vigil-cc/vigil/coordinator/store"
	"github.com/vigil-cc/vigil/internal/username"
)

const accountUsage = `usage: vigil-coordinator account add --name NAME --role admin|supervisor|agent [--data-dir DIR]
       vigil-coordinator account passwd --name NAME [--data-dir DIR]
       vigil-coordinator account disable --name NAME [--data-dir DIR]
       vigil-coordinator account enable --name NAME [--data-dir DIR]

add creates a named account for the web pages (admin, supervisor) or the
reference Agent Desk (agent); passwd sets an account's password. The
password comes from VIGIL_PASSWORD, or else from the first line of
standard input; it must be 10 to 72 bytes. passwd and disable end the
account's browser sessions at once; disable refuses the last admin account
that may sign in. Each works while the coordinator runs (the database allows
a second writer) and is audited with the actor "cli".`

// runAccount is the account subcommand.
func runAccount(args []string, stdin io.Reader, stdout io.Writer) error {
	if len(args) == 0 {
		return errors.New(accountUsage)
	}
	verb := args[0]
	switch verb {
	case "add", "passwd", "disable", "enable":
	default:
		return errors.New(accountUsage)
	}
	fs := flag.NewFlagSet("vigil-coordinator account "+verb, flag.ContinueOnError)
	fs.Usage = func() { fmt.Fprintln(fs.Output(), accountUsage) }
	name := fs.String("name", "", "the account's name (case-insensitive)")
	role := fs.String("role", "", "add: admin, supervisor or agent")
	dataDir := fs.String("data-dir", "vigil-data", "the coordinator's data directory (VIGIL_DATA_DIR)")
	dbURL := fs.String("database-url", "", "the coordinator's PostgreSQL database, if it has one (VIGIL_DATABASE_URL)")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q\n%s", fs.Args(), accountUsage)
	}
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	if v, ok := os.LookupEnv("VIGIL_DATA_DIR"); ok && !given["data-dir"] {
		*dataDir = v
	}
	if v, ok := os.LookupEnv("VIGIL_DATABASE_URL"); ok && !given["database-url"] {
		*dbURL = v
	}
	switch {
	case verb == "add" && (*name == "" || *role == ""):
		return errors.New("--name and --role are required\n" + accountUsage)
	case *name == "":
		return errors.New("--name is required\n" + accountUsage)
	case verb != "add" && *role != "":
		return errors.New("--role goes with add only\n" + accountUsage)
	}
	var pw string
	if verb == "add" || verb == "passwd" {
		var err error
		if pw, err = readPassword(stdin); err != nil {
			return err
		}
	}

	ctx := context.Background()
	if err := os.MkdirAll(*dataDir, 0o700); err != nil {
		return fmt.Errorf("creating the data directory: %w", err)
	}
	st, err := coordinator.OpenStore(ctx, *dbURL, *dataDir)
	if err != nil {
		return err
	}
	defer st.Close()
	folded := username.Fold(*name)
	var msg string
	switch verb {
	case "add":
		var a store.Account
		a, err = account.New(ctx, st, time.Now(), "cli", *name, *role, pw)
		msg = fmt.Sprintf("created account %s (%s)", a.Name, a.Role)
	case "passwd":
		err = account.SetPassword(ctx, st, time.Now(), "cli", *name, pw, nil)
		msg = fmt.Sprintf("set the password of %s; its sessions are ended", folded)
	case "disable", "enable":
		err = account.SetDisabled(ctx, st, time.Now(), "cli", *name, verb == "disable")
		msg = fmt.Sprintf("%sd account %s", verb, folded)
		if verb == "disable" {
			msg += "; its sessions are ended"
		}
	}
	switch {
	case errors.Is(err, account.ErrInvalid):
		return errors.New(strings.TrimPrefix(err.Error(), account.ErrInvalid.Error()+": "))
	case errors.Is(err, store.ErrDuplicate):
		return fmt.Errorf("an account named %q exists already", folded)
	case errors.Is(err, store.ErrNotFound):
		return fmt.Errorf("there is no account named %q", folded)
	case errors.Is(err, store.ErrLastAdmin):
		return fmt.Errorf("%q is the last admin account that may sign in: add another admin first", folded)
	case err != nil:
		return err
	}
	fmt.Fprintln(stdout, msg)
	return nil
}

// readPassword reads the password from VIGIL_PASSWORD, or else the first
// line of stdin (prompting on a terminal).
func readPassword(stdin io.Reader) (string, error) {
	if pw, ok := os.LookupEnv("VIGIL_PASSWORD"); ok {
		return pw, nil
	}
	if f, isFile := stdin.(*os.File); isFile {
		if fi, err := f.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
			fmt.Fprint(os.Stderr, "Password (shown as you type; or set VIGIL_PASSWORD): ")
		}
	}
	if stdin == nil {
		return "", nil
	}
	line, err := bufio.NewReader(stdin).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("reading the password from standard input: %w", err)
	}
	return strings.TrimRight(line, "\r\n"), nil
}
