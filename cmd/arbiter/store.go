package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/arbiterd/arbiter/internal/config"
	"github.com/arbiterd/arbiter/internal/dsn"
	"github.com/arbiterd/arbiter/internal/secretbox"
	"github.com/arbiterd/arbiter/store/transfer"
)

func (a *app) storeCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "store",
		Short: "Move the daemon's data from one store to another",
		Long: `Move the daemon's data from one store to another, with the daemon stopped: today from the
SQLite file of a single machine into the Postgres database of a cluster.`,
	}
	cmd.AddCommand(a.storeMigrateCmd())
	return cmd
}

func (a *app) storeMigrateCmd() *cobra.Command {
	var to string
	cmd := &cobra.Command{
		Use:   "migrate --to postgres://USER@HOST/DB [--data-dir DIR]",
		Short: "Copy this machine's SQLite database into an empty Postgres database",
		Long: `Copy everything the daemon keeps in the SQLite file of its data dir (arbiter.db) into an
empty Postgres database, so that a single machine becomes the first node of a cluster: jobs,
runs with their ids, their output, the event log, and the secrets, still encrypted.

Stop the daemon first: migrate refuses a data dir a daemon is using, and a database that
already holds anything. It creates the schema when the database has none. The copy is one
transaction, checked against the file before it commits: when anything fails, or on Ctrl-C,
the database is left empty. The SQLite file is only read.

The data dir is --data-dir, else the daemon's (ARBITER_DATA_DIR, the config file, the
default; see 'arbiter config'). A password belongs in ~/.pgpass or PGPASSWORD rather than in
the URL; arbiter never prints it.`,
		Example: `  sudo systemctl stop arbiter
  sudo -u arbiter arbiter store migrate --data-dir /var/lib/arbiter --to postgres://arbiter@db.example.com/arbiter`,
		Args: argsNamed(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			switch {
			case to == "":
				return usagef(cmd, "missing --to URL: the Postgres database to copy into, such as postgres://arbiter@db.example.com/arbiter")
			case !dsn.IsPostgres(to):
				return usagef(cmd, "--to %q is not a Postgres URL: give one such as postgres://arbiter@db.example.com/arbiter", dsn.Redact(to))
			}
			r, err := loadConfig(cmd)
			if err != nil {
				return err
			}
			return a.storeMigrate(cmd.Context(), r, to)
		},
	}
	configFlag(cmd)
	cmd.Flags().StringVar(&to, "to", "", "the empty Postgres database to copy into: a postgres://USER@HOST/DB URL")
	cmd.Flags().String("data-dir", "", "the data directory whose arbiter.db to copy (default $ARBITER_DATA_DIR, else /var/lib/arbiter for root, else $XDG_STATE_HOME/arbiter)")
	_ = cmd.MarkFlagDirname("data-dir")
	return cmd
}

func (a *app) storeMigrate(ctx context.Context, r *config.Resolved, to string) error {
	safe := dsn.Redact(to)
	dbPath := filepath.Join(r.DataDir, "arbiter.db")
	var progress func(transfer.Progress)
	if f, ok := a.err.(*os.File); ok && isTerminal(f) {
		progress = func(p transfer.Progress) {
			fmt.Fprintf(f, "\r\033[Kcopying %s: %s of %s", tableName(p.Table), thousands(p.Copied), thousands(p.Total))
		}
	}
	rep, err := transfer.SQLiteToPostgres(ctx, dbPath, to, transfer.Options{Progress: progress})
	if progress != nil {
		fmt.Fprint(a.err, "\r\033[K")
	}
	switch {
	case err != nil && ctx.Err() != nil:
		fmt.Fprintf(a.err, "arbiter: interrupted: nothing was copied into %s\n", safe)
		return err // exit 130, and nothing more said
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("%w; is the data dir right? It is %s, from %s (give another with --data-dir)",
			err, r.DataDir, r.Sources[config.KeyDataDir])
	case err != nil:
		return err
	}

	fmt.Fprintf(a.out, "Copied %s into %s in %s:\n", dbPath, safe, duration(rep.Took))
	t := newTable(a.out)
	t.row("  jobs", thousands(rep.Jobs))
	t.row("  runs", thousands(rep.Runs))
	t.row("  output chunks", fmt.Sprintf("%s (%s)", thousands(rep.OutputChunks), byteSize(rep.OutputBytes)))
	t.row("  events", thousands(rep.Events))
	t.row("  secrets", thousands(rep.Secrets))
	if err := t.flush(); err != nil {
		return err
	}

	keyPath := r.KeyFile
	if keyPath == "" {
		keyPath, _ = secretbox.KeyPath(r.DataDir)
	}
	masked := ""
	if safe != to {
		masked = "\n     The password is masked here: keep it in ~/.pgpass or PGPASSWORD rather than in the URL."
	}
	fmt.Fprintf(a.out, `
Next:
  1. Start the daemon of each node with --store %s
     (or store = %s under [daemon] in its config file).%s
  2. Copy %s to every node (into its data dir, or where its key_file
     setting points): the secrets are encrypted with it, and every node needs the same key.
The SQLite file is as it was. Do not start a daemon on it again without --store: it would
go on apart from the cluster.
`, safe, strconv.Quote(safe), masked, keyPath)
	if rep.Secrets > 0 {
		if _, err := os.Stat(keyPath); errors.Is(err, fs.ErrNotExist) {
			fmt.Fprintf(a.err, "arbiter: warning: there is no key at %s, and without it the %d secrets copied cannot be decrypted: find the key the daemon used (its key_file setting)\n",
				keyPath, rep.Secrets)
		}
	}
	return nil
}

// tableName is how the progress line calls a table.
func tableName(table string) string {
	if table == "run_output" {
		return "output chunks"
	}
	return table
}

// thousands writes n with commas between groups of three digits: 48,210.
func thousands(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := s[0] == '-'
	if neg {
		s = s[1:]
	}
	var out []byte
	for i, c := range []byte(s) {
		if i > 0 && (len(s)-i)%3 == 0 {
			out = append(out, ',')
		}
		out = append(out, c)
	}
	if neg {
		return "-" + string(out)
	}
	return string(out)
}

// byteSize says n bytes in the largest binary unit that keeps it at least 1: 1.2 MiB.
func byteSize(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d bytes", n)
	}
	v, i := float64(n)/unit, 0
	for v >= unit && i < 4 {
		v /= unit
		i++
	}
	return fmt.Sprintf("%.1f %ciB", v, "KMGTP"[i])
}
