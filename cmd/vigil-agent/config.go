package main

import (
	"bufio"
	"bytes"
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// A config file holds flag settings, one per line:
//
//	# comment
//	coordinator = https://vigil.example.com
//	mic-device = "USB Headset"
//
// Keys are flag names without the dashes; a value may be double-quoted (Go
// string syntax). Blank lines and lines starting with # are ignored.
// Precedence: command line, then environment (VIGIL_*), then the config
// file, then the defaults.

// parseConfig reads a config file's settings in file order.
func parseConfig(data []byte) ([][2]string, error) {
	var out [][2]string
	seen := map[string]int{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			return nil, fmt.Errorf("line %d: want key = value", n)
		}
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		k = strings.TrimLeft(k, "-")
		if k == "" {
			return nil, fmt.Errorf("line %d: empty key", n)
		}
		if strings.HasPrefix(v, `"`) {
			u, err := strconv.Unquote(v)
			if err != nil {
				return nil, fmt.Errorf("line %d: %s: bad quoted value: %v", n, k, err)
			}
			v = u
		}
		if prev, dup := seen[k]; dup {
			return nil, fmt.Errorf("line %d: %s already set on line %d", n, k, prev)
		}
		seen[k] = n
		out = append(out, [2]string{k, v})
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	return out, nil
}

// applyConfig sets fs's flags from the config file at path, except those
// already set (by the environment or the command line).
func applyConfig(fs *flag.FlagSet, path string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("reading the config file: %w", err)
	}
	settings, err := parseConfig(data)
	if err != nil {
		return fmt.Errorf("config file %s: %w", path, err)
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	for _, kv := range settings {
		k, v := kv[0], kv[1]
		if k == "config" || fs.Lookup(k) == nil {
			return fmt.Errorf("config file %s: unknown setting %q (settings are the command's flag names)", path, k)
		}
		if set[k] {
			continue
		}
		if err := fs.Set(k, v); err != nil {
			return fmt.Errorf("config file %s: %s = %q: %v", path, k, v, err)
		}
	}
	return nil
}
