package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"

	"github.com/arbiterd/arbiter"
	"github.com/arbiterd/arbiter/api"
)

func (a *app) secretCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "secret",
		Short: "Manage encrypted secrets that jobs receive as environment variables",
		Long: `Manage secrets: values encrypted at rest (AES-256-GCM) that jobs receive as environment
variables, referenced by name: arbiter add --env PGPASSWORD=secret:pg ...

Values enter only through stdin or a file, never a command-line argument, and no command
prints them. Runs' output is redacted: a secret value (or its base64 form) shows as ***.`,
	}
	cmd.AddCommand(a.secretSetCmd(), a.secretLsCmd(), a.secretRmCmd(), a.secretRotateKeyCmd())
	return cmd
}

func (a *app) secretSetCmd() *cobra.Command {
	var fromFile string
	return withFlags(&cobra.Command{
		Use:   "set NAME [--from-file PATH]",
		Short: "Set a secret from stdin (hidden when typed) or a file",
		Long: `Set a secret. The value is read from --from-file, or from stdin: typed at a terminal it is
not echoed; piped, it is read to the end. One trailing newline is dropped, so
'echo "$TOKEN" | arbiter secret set api-token' stores the token alone.`,
		Args: argsNamed(1, "NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := args[0]
			if err := arbiter.ValidateName(name); err != nil {
				return arbiter.Invalidf("name", "%q is not a valid secret name: use 1-63 characters of a-z, 0-9, '.', '_' and '-', starting with a letter or digit", name)
			}
			value, err := a.readSecretValue(name, fromFile)
			if err != nil {
				return err
			}
			c, err := a.client()
			if err != nil {
				return err
			}
			s, err := c.SetSecret(cmd.Context(), name, value)
			if err != nil {
				return err
			}
			fmt.Fprintf(a.out, "set secret %s (%d bytes)\n", s.Name, s.Size)
			return nil
		},
	}, func(cmd *cobra.Command) {
		cmd.Flags().StringVar(&fromFile, "from-file", "", "read the value from this file")
	})
}

// readSecretValue reads a secret's value from a file, or stdin, without echoing it on a
// terminal.
func (a *app) readSecretValue(name, fromFile string) (string, error) {
	var raw []byte
	var err error
	switch {
	case fromFile != "":
		if raw, err = os.ReadFile(fromFile); err != nil {
			return "", fmt.Errorf("read the secret's value: %w", err)
		}
	default:
		if f, ok := a.in.(*os.File); ok {
			if restore, isTerm := hideInput(f); isTerm {
				fmt.Fprintf(a.err, "value for %s (input hidden): ", name)
				line, rerr := bufio.NewReader(f).ReadString('\n')
				restore()
				fmt.Fprintln(a.err)
				if rerr != nil && rerr != io.EOF {
					return "", fmt.Errorf("read the secret's value: %w", rerr)
				}
				raw = []byte(line)
				break
			}
		}
		if raw, err = io.ReadAll(a.in); err != nil {
			return "", fmt.Errorf("read the secret's value: %w", err)
		}
	}
	raw = bytes.TrimSuffix(raw, []byte("\n"))
	raw = bytes.TrimSuffix(raw, []byte("\r"))
	if len(raw) == 0 {
		return "", arbiter.Invalidf("value", "the secret's value is empty; give it on stdin or with --from-file")
	}
	return string(raw), nil
}

// hideInput turns off a terminal's echo; isTerm is false (and nothing changed) when f is not
// a terminal.
func hideInput(f *os.File) (restore func(), isTerm bool) {
	fd := int(f.Fd())
	old, err := unix.IoctlGetTermios(fd, ioctlGetTermios)
	if err != nil {
		return func() {}, false
	}
	quiet := *old
	quiet.Lflag &^= unix.ECHO
	if err := unix.IoctlSetTermios(fd, ioctlSetTermios, &quiet); err != nil {
		return func() {}, false
	}
	return func() { _ = unix.IoctlSetTermios(fd, ioctlSetTermios, old) }, true
}

func (a *app) secretLsCmd() *cobra.Command {
	var out *format
	cmd := &cobra.Command{
		Use:     "ls",
		Aliases: []string{"list"},
		Short:   "List secrets: names, sizes, when they changed and which jobs use them",
		Args:    argsNamed(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			secrets, err := c.ListSecrets(cmd.Context())
			if err != nil {
				return err
			}
			if *out == formatJSON {
				return writeJSON(a.out, api.SecretList{Secrets: secrets})
			}
			return renderSecrets(a.out, secrets, time.Now(), time.Local)
		},
	}
	out = outputFlag(cmd)
	return cmd
}

func renderSecrets(w io.Writer, secrets []api.Secret, now time.Time, loc *time.Location) error {
	t := newTable(w, "NAME", "SIZE", "UPDATED", "USED BY")
	for _, s := range secrets {
		users := "-"
		if len(s.UsedBy) > 0 {
			users = strings.Join(s.UsedBy, ", ")
		}
		t.row(s.Name, fmt.Sprintf("%d B", s.Size), when(s.UpdatedAt, now, loc), users)
	}
	return t.flush()
}

func (a *app) secretRmCmd() *cobra.Command {
	var force bool
	return withFlags(&cobra.Command{
		Use:     "rm NAME [--force]",
		Aliases: []string{"remove"},
		Short:   "Remove a secret (refused while jobs reference it, unless --force)",
		Args:    argsNamed(1, "NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			if err := c.DeleteSecret(cmd.Context(), args[0], force); err != nil {
				return err
			}
			fmt.Fprintf(a.out, "removed secret %s\n", args[0])
			return nil
		},
	}, func(cmd *cobra.Command) {
		cmd.Flags().BoolVar(&force, "force", false, "remove it even though jobs reference it (their runs fail until it is set again)")
	})
}

func (a *app) secretRotateKeyCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "rotate-key",
		Short: "Replace the master key, re-encrypting every secret in one transaction",
		Args:  argsNamed(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			k, err := c.RotateKey(cmd.Context())
			if err != nil {
				return err
			}
			fmt.Fprintf(a.out, "re-encrypted %d secrets under key %s\nthe old key is kept at %s: remove it once you no longer need it\n", k.Secrets, k.KeyID, k.Backup)
			return nil
		},
	}
}

// withFlags lets a command literal declare its flags inline.
func withFlags(cmd *cobra.Command, flags func(*cobra.Command)) *cobra.Command {
	flags(cmd)
	return cmd
}
