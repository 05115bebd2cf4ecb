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

Creates a named account for the web pages (admin, supervisor) or the
reference Agent Desk (agent). The password comes from VIGIL_PASSWORD, or
else from the first line of standard input; it must be 10 to 72 bytes.
It works while the coordinator runs (the database allows a second writer).`

// runAccount is the account subcommand.
func runAccount(args []string, stdin io.Reader, stdout io.Writer) error {
	if len(args) == 0 || args[0] != "add" {
		return errors.New(accountUsage)
	}
	fs := flag.NewFlagSet("vigil-coordinator account add", flag.ContinueOnError)
	fs.Usage = func() { fmt.Fprintln(fs.Output(), accountUsage) }
	name := fs.String("name", "", "the account's name (case-insensitive)")
	role := fs.String("role", "", "admin, supervisor or agent")
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
	if *name == "" || *role == "" {
		return errors.New("--name and --role are required\n" + accountUsage)
	}
	pw, ok := os.LookupEnv("VIGIL_PASSWORD")
	if !ok {
		if f, isFile := stdin.(*os.File); isFile {
			if fi, err := f.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
				fmt.Fprint(os.Stderr, "Password (shown as you type; or set VIGIL_PASSWORD): ")
			}
		}
		line, err := bufio.NewReader(stdin).ReadString('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			return fmt.Errorf("reading the password from standard input: %w", err)
		}
		pw = strings.TrimRight(line, "\r\n")
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
	a, err := account.New(ctx, st, time.Now(), "cli", *name, *role, pw)
	switch {
	case errors.Is(err, account.ErrInvalid):
		return errors.New(strings.TrimPrefix(err.Error(), account.ErrInvalid.Error()+": "))
	case errors.Is(err, store.ErrDuplicate):
		return fmt.Errorf("an account named %q exists already", username.Fold(*name))
	case err != nil:
		return err
	}
	fmt.Fprintf(stdout, "created account %s (%s)\n", a.Name, a.Role)
	return nil
}
