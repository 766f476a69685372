package main

import (
	"fmt"
	"os"
	"runtime/debug"
	"strconv"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/cobra/doc"
)

func (a *app) manCmd() *cobra.Command {
	var dir string
	cmd := &cobra.Command{
		Use:   "man --dir DIR",
		Short: "Write the man pages",
		Long: `Write a man page (section 1) for every command into DIR, e.g. for a package:

  arbiter man --dir /usr/share/man/man1

The pages carry the version and a date that depends on the build only (SOURCE_DATE_EPOCH, else
the build's date or commit time), so that building them twice gives the same bytes.`,
		Args: argsNamed(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if dir == "" {
				return usagef(cmd, "missing --dir DIR")
			}
			when, err := manDate()
			if err != nil {
				return err
			}
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return fmt.Errorf("create man page directory: %w", err)
			}
			root := cmd.Root()
			// The tag adds a HISTORY section that only says cobra wrote the page.
			disableAutoGenTag(root)
			// Title is left empty: cobra then names each page after its command (ARBITER-ADD).
			header := &doc.GenManHeader{Section: "1", Date: &when, Source: "arbiter " + version, Manual: "arbiter manual"}
			if err := doc.GenManTree(root, header, dir); err != nil {
				return fmt.Errorf("write man pages: %w", err)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&dir, "dir", "", "the directory to write the pages into (created if missing)")
	return cmd
}

func disableAutoGenTag(cmd *cobra.Command) {
	cmd.DisableAutoGenTag = true
	for _, c := range cmd.Commands() {
		disableAutoGenTag(c)
	}
}

// manDate is the date in the pages' header. Never the current time: packages must build
// reproducibly. SOURCE_DATE_EPOCH, the reproducible-builds convention, wins; then the date
// stamped at build time, then the commit time Go records from git; else the Unix epoch.
func manDate() (time.Time, error) {
	if s := os.Getenv("SOURCE_DATE_EPOCH"); s != "" {
		sec, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return time.Time{}, fmt.Errorf("SOURCE_DATE_EPOCH=%q is not a number of seconds since 1970: %w", s, err)
		}
		return time.Unix(sec, 0).UTC(), nil
	}
	if t, err := time.Parse(time.RFC3339, date); err == nil {
		return t.UTC(), nil
	}
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "vcs.time" {
				if t, err := time.Parse(time.RFC3339, s.Value); err == nil {
					return t.UTC(), nil
				}
			}
		}
	}
	return time.Unix(0, 0).UTC(), nil
}
