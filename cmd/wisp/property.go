package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/wispfaas/wisp/client"
)

// The properties file: KEY=VALUE lines as in wsk's ~/.wskprops.
const (
	configFileName = ".wisprc"
	keyAPIHost     = "APIHOST"
	keyAuth        = "AUTH"
)

// properties is the properties file as read. Lines it does not know, and
// comments, are kept when it is written back.
type properties struct {
	path  string
	lines []string
}

// configPath is $WISP_CONFIG_FILE, else ~/.wisprc.
func (a *app) configPath() (string, error) {
	if p := a.getenv("WISP_CONFIG_FILE"); p != "" {
		return p, nil
	}
	home := a.getenv("HOME")
	if home == "" {
		return "", errors.New("cannot find the properties file: neither WISP_CONFIG_FILE nor HOME is set")
	}
	return filepath.Join(home, configFileName), nil
}

// loadProperties reads the properties file; a missing file is empty.
func (a *app) loadProperties() (*properties, error) {
	path, err := a.configPath()
	if err != nil {
		return nil, err
	}
	p := &properties{path: path}
	data, err := os.ReadFile(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return p, nil
	case err != nil:
		return nil, fmt.Errorf("read the properties file: %w", err)
	}
	p.lines = strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	return p, nil
}

// get returns the value of key, "" when it is not set.
func (p *properties) get(key string) string {
	for _, l := range p.lines {
		if k, v, ok := strings.Cut(l, "="); ok && strings.TrimSpace(k) == key {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// set sets key to value, or removes it when value is "".
func (p *properties) set(key, value string) {
	out := p.lines[:0:0]
	done := false
	for _, l := range p.lines {
		if k, _, ok := strings.Cut(l, "="); ok && strings.TrimSpace(k) == key {
			if value != "" && !done {
				out = append(out, key+"="+value)
				done = true
			}
			continue
		}
		out = append(out, l)
	}
	if value != "" && !done {
		out = append(out, key+"="+value)
	}
	p.lines = out
}

// save writes the file atomically, readable by its owner only: it holds
// the auth key.
func (p *properties) save() error {
	dir := filepath.Dir(p.path)
	f, err := os.CreateTemp(dir, filepath.Base(p.path)+".*")
	if err != nil {
		return fmt.Errorf("write the properties file: %w", err)
	}
	data := strings.Join(p.lines, "\n")
	if data != "" {
		data += "\n"
	}
	_, err = f.WriteString(data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(f.Name(), 0o600)
	}
	if err == nil {
		err = os.Rename(f.Name(), p.path)
	}
	if err != nil {
		os.Remove(f.Name())
		return fmt.Errorf("write the properties file: %w", err)
	}
	return nil
}

// settings are the API host and auth key in effect: the global flags win
// over the environment, which wins over the properties file.
func (a *app) settings() (apihost, auth string, err error) {
	apihost, auth = a.apihost, a.auth
	if apihost == "" {
		apihost = a.getenv("WISP_APIHOST")
	}
	if auth == "" {
		auth = a.getenv("WISP_AUTH")
	}
	if apihost != "" && auth != "" {
		return apihost, auth, nil
	}
	p, err := a.loadProperties()
	if err != nil {
		return "", "", err
	}
	if apihost == "" {
		apihost = p.get(keyAPIHost)
	}
	if auth == "" {
		auth = p.get(keyAuth)
	}
	return apihost, auth, nil
}

// client returns a client for the settings in effect, or an error that
// says how to set what is missing.
func (a *app) client() (*client.Client, error) {
	apihost, auth, err := a.settings()
	if err != nil {
		return nil, err
	}
	if apihost == "" {
		return nil, errors.New("no API host set: run `wisp property set --apihost HOST` (or set WISP_APIHOST)")
	}
	if auth == "" {
		return nil, errors.New("no auth key set: run `wisp property set --auth UUID:KEY` (or set WISP_AUTH)")
	}
	c, err := client.New(apihost, auth, client.WithInsecure(a.insecure), client.WithUserAgent("wisp-cli"))
	if err != nil {
		return nil, fmt.Errorf("%w: check `wisp property get`", err)
	}
	return c, nil
}

func newPropertyCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "property",
		Short: "Set, unset and show the API host and auth key",
		Long: `The properties are kept in ~/.wisprc (or the file $WISP_CONFIG_FILE names) as
KEY=VALUE lines, like wsk's ~/.wskprops. WISP_APIHOST and WISP_AUTH override
the file, and the global flags --apihost and --auth override both.`,
	}
	groupCommand(cmd)
	cmd.AddCommand(newPropertySetCmd(a), newPropertyUnsetCmd(a), newPropertyGetCmd(a))
	return cmd
}

func newPropertySetCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "set --apihost HOST | --auth KEY",
		Short: "Save the API host and/or the auth key in the properties file",
		Long: `set saves the values of the global flags --apihost and --auth in the
properties file, for every later command.`,
		Example: `  wisp property set --apihost 127.0.0.1:3233
  wisp property set --apihost https://wisp.example.com --auth 23bc46b1-71f6-4ed5-8c54-816aa4f8c502:123zO3xZ`,
		Args: argsUsage(0, 0, ""),
		RunE: func(cmd *cobra.Command, _ []string) error {
			setHost, setAuth := cmd.Flags().Changed("apihost"), cmd.Flags().Changed("auth")
			if !setHost && !setAuth {
				return usagef("give --apihost HOST and/or --auth KEY")
			}
			if setHost {
				if _, err := client.NormalizeAPIHost(a.apihost); err != nil {
					return err
				}
			}
			if setAuth && !strings.Contains(a.auth, ":") {
				return errors.New("the auth key must have the form UUID:KEY")
			}
			p, err := a.loadProperties()
			if err != nil {
				return err
			}
			if setHost {
				p.set(keyAPIHost, a.apihost)
			}
			if setAuth {
				p.set(keyAuth, a.auth)
			}
			if err := p.save(); err != nil {
				return err
			}
			if setHost {
				a.ok("whisk API host set to %s", a.apihost)
			}
			if setAuth {
				a.ok("whisk auth set. Run 'wisp property get --auth' to see the new value.")
			}
			if a.json {
				return printJSON(a.stdout, map[string]string{"apihost": p.get(keyAPIHost), "auth": p.get(keyAuth)})
			}
			return nil
		},
	}
}

func newPropertyUnsetCmd(a *app) *cobra.Command {
	var host, auth bool
	cmd := &cobra.Command{
		Use:     "unset --apihost | --auth",
		Short:   "Remove the API host and/or the auth key from the properties file",
		Example: `  wisp property unset --auth`,
		Args:    argsUsage(0, 0, ""),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if !host && !auth {
				return usagef("give --apihost and/or --auth")
			}
			p, err := a.loadProperties()
			if err != nil {
				return err
			}
			if host {
				p.set(keyAPIHost, "")
			}
			if auth {
				p.set(keyAuth, "")
			}
			if err := p.save(); err != nil {
				return err
			}
			if host {
				a.ok("whisk API host unset.")
			}
			if auth {
				a.ok("whisk auth unset.")
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&host, "apihost", false, "unset the API host")
	cmd.Flags().BoolVar(&auth, "auth", false, "unset the auth key")
	return cmd
}

func newPropertyGetCmd(a *app) *cobra.Command {
	var host, auth bool
	cmd := &cobra.Command{
		Use:   "get [--apihost] [--auth]",
		Short: "Show the API host and auth key in effect",
		Long: `get shows the API host and auth key that commands use: from WISP_APIHOST and
WISP_AUTH when they are set, else from the properties file. With --apihost or
--auth it shows only that one.`,
		Example: `  wisp property get
  wisp property get --auth`,
		Args: argsUsage(0, 0, ""),
		RunE: func(cmd *cobra.Command, _ []string) error {
			apihost, key, err := a.settings()
			if err != nil {
				return err
			}
			all := !host && !auth
			if a.json {
				out := map[string]string{}
				if all || host {
					out["apihost"] = apihost
				}
				if all || auth {
					out["auth"] = key
				}
				return printJSON(a.stdout, out)
			}
			if all || host {
				fmt.Fprintf(a.stdout, "whisk API host\t\t%s\n", apihost)
			}
			if all || auth {
				fmt.Fprintf(a.stdout, "whisk auth\t\t%s\n", key)
			}
			return nil
		},
	}
	// These shadow the global --apihost and --auth, as in wsk.
	cmd.Flags().BoolVar(&host, "apihost", false, "show only the API host")
	cmd.Flags().BoolVar(&auth, "auth", false, "show only the auth key")
	return cmd
}
