package agent

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"
)

// Device is the agent's enrollment: the device token the coordinator gave
// it. It is stored in the state directory, readable by its owner only.
type Device struct {
	Coordinator string    `json:"coordinator"` // base URL it was enrolled with
	ID          string    `json:"device_id"`
	Token       string    `json:"device_token"`
	Status      string    `json:"status"` // at enrollment: "approved" or "pending"
	EnrolledAt  time.Time `json:"enrolled_at"`
}

// DeviceFile is the name of the enrollment file in the state directory.
const DeviceFile = "device.json"

// ErrNotEnrolled: the state directory holds no enrollment.
var ErrNotEnrolled = errors.New("this workstation is not enrolled")

// DefaultStateDir is where a user's agent keeps its state:
// $XDG_STATE_HOME/vigil, else ~/.local/state/vigil (on Windows
// %LOCALAPPDATA%\Vigil). A system service uses /var/lib/vigil instead.
func DefaultStateDir(lookup func(string) (string, bool)) (string, error) {
	if v, ok := lookup("XDG_STATE_HOME"); ok && filepath.IsAbs(v) {
		return filepath.Join(v, "vigil"), nil
	}
	if runtime.GOOS == "windows" {
		if v, ok := lookup("LOCALAPPDATA"); ok && v != "" {
			return filepath.Join(v, "Vigil"), nil
		}
	}
	home, ok := lookup("HOME")
	if !ok || home == "" {
		h, err := os.UserHomeDir()
		if err != nil {
			return "", fmt.Errorf("finding the state directory (give --state-dir): %w", err)
		}
		home = h
	}
	return filepath.Join(home, ".local", "state", "vigil"), nil
}

// LoadDevice reads the enrollment from dir; ErrNotEnrolled if there is
// none. A file others can read is made private again.
func LoadDevice(dir string) (Device, error) {
	var d Device
	path := filepath.Join(dir, DeviceFile)
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return d, ErrNotEnrolled
	}
	if err != nil {
		return d, fmt.Errorf("reading the enrollment: %w", err)
	}
	if fi, err := os.Stat(path); err == nil && fi.Mode().Perm()&0o077 != 0 && runtime.GOOS != "windows" {
		if err := os.Chmod(path, 0o600); err != nil {
			return d, fmt.Errorf("%s is readable by others and cannot be made private: %w", path, err)
		}
	}
	if err := json.Unmarshal(b, &d); err != nil {
		return d, fmt.Errorf("reading the enrollment %s: %w", path, err)
	}
	if d.Token == "" {
		return d, fmt.Errorf("the enrollment %s holds no device token", path)
	}
	return d, nil
}

// SaveDevice writes the enrollment to dir (created 0700) as a 0600 file,
// replacing any earlier one atomically.
func SaveDevice(dir string, d Device) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("creating the state directory: %w", err)
	}
	b, err := json.MarshalIndent(d, "", "  ")
	if err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, ".device-*.json")
	if err != nil {
		return fmt.Errorf("saving the enrollment: %w", err)
	}
	defer os.Remove(f.Name()) // after a successful rename there is nothing to remove
	if err := f.Chmod(0o600); err != nil && runtime.GOOS != "windows" {
		f.Close()
		return fmt.Errorf("saving the enrollment: %w", err)
	}
	if _, err := f.Write(append(b, '\n')); err != nil {
		f.Close()
		return fmt.Errorf("saving the enrollment: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("saving the enrollment: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("saving the enrollment: %w", err)
	}
	if err := os.Rename(f.Name(), filepath.Join(dir, DeviceFile)); err != nil {
		return fmt.Errorf("saving the enrollment: %w", err)
	}
	return nil
}

// Enroll exchanges an enrollment token for a device token
// (POST /api/v1/enroll). The result is not saved.
func Enroll(ctx context.Context, e Endpoint, enrollmentToken, host, osName string, now time.Time) (Device, error) {
	var d Device
	if strings.TrimSpace(enrollmentToken) == "" {
		return d, errors.New("the enrollment token is empty")
	}
	body, _ := json.Marshal(map[string]string{"enrollment_token": strings.TrimSpace(enrollmentToken), "host": host, "os": osName})
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, e.APIURL("/api/v1/enroll"), bytes.NewReader(body))
	if err != nil {
		return d, err
	}
	req.Header.Set("Content-Type", "application/json")
	client := e.HTTPClient()
	defer client.CloseIdleConnections()
	resp, err := client.Do(req)
	if err != nil {
		return d, fmt.Errorf("enrolling with %s: %w", e, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	var answer struct {
		DeviceID    string `json:"device_id"`
		DeviceToken string `json:"device_token"`
		Status      string `json:"status"`
		Error       string `json:"error"`
	}
	_ = json.Unmarshal(raw, &answer)
	if resp.StatusCode != http.StatusCreated {
		msg := answer.Error
		if msg == "" {
			msg = resp.Status
		}
		return d, fmt.Errorf("enrolling with %s: the coordinator refused: %s", e, msg)
	}
	if answer.DeviceToken == "" {
		return d, fmt.Errorf("enrolling with %s: the answer holds no device token", e)
	}
	return Device{Coordinator: e.String(), ID: answer.DeviceID, Token: answer.DeviceToken, Status: answer.Status, EnrolledAt: now.UTC()}, nil
}
