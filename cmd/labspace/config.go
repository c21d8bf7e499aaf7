package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/labspace/labspace/client"
)

// config is what `labspace login` keeps: the server, the token and the
// default project, in the user's config folder, readable by the user only.
type config struct {
	Server  string `json:"server"`
	Token   string `json:"token"`
	Project string `json:"project,omitempty"`
}

// configPath is $LABSPACE_CONFIG, else <user config dir>/labspace/config.json.
func configPath() (string, error) {
	if p := os.Getenv("LABSPACE_CONFIG"); p != "" {
		return p, nil
	}
	dir, err := os.UserConfigDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(dir, "labspace", "config.json"), nil
}

func loadConfig() (*config, error) {
	p, err := configPath()
	if err != nil {
		return nil, err
	}
	raw, err := os.ReadFile(p)
	if errors.Is(err, os.ErrNotExist) {
		return &config{}, nil
	}
	if err != nil {
		return nil, err
	}
	var c config
	if err := json.Unmarshal(raw, &c); err != nil {
		return nil, fmt.Errorf("%s: %w", p, err)
	}
	return &c, nil
}

func (c *config) save() error {
	p, err := configPath()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		return err
	}
	raw, _ := json.MarshalIndent(c, "", "  ")
	tmp := p + ".tmp"
	if err := os.WriteFile(tmp, raw, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, p)
}

// apiClient returns a client for the configured server, or an error
// telling the user to sign in.
func apiClient() (*client.Client, *config, error) {
	c, err := loadConfig()
	if err != nil {
		return nil, nil, err
	}
	if c.Server == "" || c.Token == "" {
		return nil, nil, errors.New("not signed in: run `labspace login <server>` first")
	}
	return client.New(c.Server, c.Token), c, nil
}
