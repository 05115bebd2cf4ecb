package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"
)

const deviceUsage = `usage: vigil-coordinator device list [--pending]
       vigil-coordinator device approve ID | --enrollment ID
       vigil-coordinator device revoke ID | --enrollment ID

Lists enrolled devices (host, status, the enrollment token each used), and
approves or revokes one, or every device of one enrollment token (approve:
its pending devices; revoke: all of them). It calls the running
coordinator's API, so a revoked device's connection is closed at once:
--url (VIGIL_URL, default http://127.0.0.1:8080) and an admin API token from
VIGIL_TOKEN, or else the file --token-file (default <data-dir>/admin.token;
--data-dir as VIGIL_DATA_DIR, default vigil-data).`

// runDevice is the device subcommand.
func runDevice(args []string, stdout io.Writer) error {
	if len(args) == 0 {
		return errors.New(deviceUsage)
	}
	verb := args[0]
	switch verb {
	case "list", "approve", "revoke":
	default:
		return errors.New(deviceUsage)
	}
	fs := flag.NewFlagSet("vigil-coordinator device "+verb, flag.ContinueOnError)
	fs.Usage = func() { fmt.Fprintln(fs.Output(), deviceUsage) }
	base := fs.String("url", envOr("VIGIL_URL", "http://127.0.0.1:8080"), "the coordinator's base URL (VIGIL_URL)")
	dataDir := fs.String("data-dir", envOr("VIGIL_DATA_DIR", "vigil-data"), "the coordinator's data directory, for admin.token (VIGIL_DATA_DIR)")
	tokenFile := fs.String("token-file", "", "a file holding an admin API token (default <data-dir>/admin.token; VIGIL_TOKEN wins)")
	pending := fs.Bool("pending", false, "list: only devices waiting for approval")
	enrollment := fs.String("enrollment", "", "approve, revoke: every device of this enrollment token")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	token := os.Getenv("VIGIL_TOKEN")
	if token == "" {
		path := *tokenFile
		if path == "" {
			path = filepath.Join(*dataDir, "admin.token")
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return fmt.Errorf("no admin API token: set VIGIL_TOKEN or --token-file: %w", err)
		}
		token = strings.TrimSpace(string(b))
	}
	c := apiClient{base: strings.TrimRight(*base, "/"), token: token}
	switch {
	case verb == "list" && fs.NArg() == 0:
		path := "/api/v1/devices"
		if *pending {
			path += "?status=pending"
		}
		var devs []struct {
			ID, Host, OS, Status string
			EnrollmentID         string    `json:"enrollment_id"`
			EnrolledAt           time.Time `json:"enrolled_at"`
			LastSeenAt           time.Time `json:"last_seen_at"`
		}
		if err := c.do("GET", path, &devs); err != nil {
			return err
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tHOST\tOS\tSTATUS\tENROLLMENT\tENROLLED\tLAST SEEN")
		for _, d := range devs {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", d.ID, d.Host, d.OS, d.Status, d.EnrollmentID,
				d.EnrolledAt.UTC().Format(time.RFC3339), d.LastSeenAt.UTC().Format(time.RFC3339))
		}
		return tw.Flush()
	case verb != "list" && *enrollment != "" && fs.NArg() == 0:
		var out struct{ Devices []string }
		if err := c.do("POST", "/api/v1/enrollment-tokens/"+*enrollment+"/"+verb+"-devices", &out); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%sd %d device(s) of enrollment token %s: %s\n", verb, len(out.Devices), *enrollment, strings.Join(out.Devices, " "))
		return nil
	case verb != "list" && *enrollment == "" && fs.NArg() == 1:
		if err := c.do("POST", "/api/v1/devices/"+fs.Arg(0)+"/"+verb, nil); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%sd device %s\n", verb, fs.Arg(0))
		return nil
	}
	return errors.New(deviceUsage)
}

func envOr(name, def string) string {
	if v, ok := os.LookupEnv(name); ok {
		return v
	}
	return def
}

// apiClient calls the coordinator's API with an admin token.
type apiClient struct{ base, token string }

func (c apiClient) do(method, path string, out any) error {
	req, err := http.NewRequest(method, c.base+path, bytes.NewReader(nil))
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("calling the coordinator: %w", err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("reading the coordinator's answer: %w", err)
	}
	if resp.StatusCode/100 != 2 {
		var e struct{ Error string }
		if json.Unmarshal(raw, &e) == nil && e.Error != "" {
			return fmt.Errorf("the coordinator answered %d: %s", resp.StatusCode, e.Error)
		}
		return fmt.Errorf("the coordinator answered %d", resp.StatusCode)
	}
	if out == nil {
		return nil
	}
	return json.Unmarshal(raw, out)
}
