package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"os/user"

	"github.com/spf13/cobra"

	"github.com/arbiterd/arbiter/jobfile"
	"github.com/arbiterd/arbiter/jobfile/crontab"
)

func (a *app) importCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "import",
		Short: "Convert other schedulers' jobs to a TOML job file",
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				return usagef(cmd, "cannot import %q: arbiter imports crontab", args[0])
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	cmd.AddCommand(a.importCrontabCmd())
	return cmd
}

func (a *app) importCrontabCmd() *cobra.Command {
	var system, userForm bool
	cmd := &cobra.Command{
		Use:   "crontab [FILE|-]",
		Short: "Convert a crontab to a TOML job file",
		Long: `Convert a crontab to a TOML job file on stdout: a user crontab (crontab -l), or a system
crontab such as /etc/crontab or /etc/cron.d/*, whose entries name a user after the five time
fields. Files at those paths are read as system crontabs; --system and --user say which
form to read. Without FILE, or with -, the crontab is read from stdin.

Environment settings apply to the jobs below them: PATH and others go into env, CRON_TZ and
TZ become the timezone. Each entry becomes a job with shell = "the command", named after
its program. Text after an unescaped % (the command's standard input in cron) is piped in
with printf. What arbiter cannot express (@reboot, SHELL, MAILTO, schedules arbiter refuses,
other users) is kept as a comment saying why. The exit status is 1 only when the crontab
cannot be read.`,
		Example: `  crontab -l | arbiter import crontab > jobs/mine.toml
  arbiter import crontab /etc/cron.d/sysstat > jobs/sysstat.toml
  arbiter import crontab --system backup.cron | arbiter validate -`,
		Args: argsNamed(0, "FILE"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if system && userForm {
				return usagef(cmd, "give --system or --user, not both")
			}
			file := "-"
			if len(args) > 0 {
				file = args[0]
			}
			opt := crontab.Options{Name: file, System: crontab.SystemPath(file), User: importingUser()}
			switch {
			case system:
				opt.System = true
			case userForm:
				opt.System = false
			}
			var in io.Reader = a.in
			if file == "-" {
				opt.Name = jobfile.StdinName
			} else {
				fh, err := os.Open(file)
				if err != nil {
					return fmt.Errorf("import crontab: %w", err)
				}
				defer fh.Close()
				in = fh
			}
			f, err := crontab.Read(in, opt)
			if err != nil {
				return fmt.Errorf("import crontab %s: %w", opt.Name, err)
			}
			// Encoded in full first, so that a failure writes no half file.
			var buf bytes.Buffer
			if err := f.Encode(&buf); err != nil {
				return err
			}
			if _, err := a.out.Write(buf.Bytes()); err != nil {
				return err
			}
			fmt.Fprintf(a.err, "%s: %s imported, %s kept as comments\n", opt.Name,
				importCount(len(f.Jobs), "job", "jobs"), importCount(len(f.Skipped), "line", "lines"))
			if len(f.Jobs) == 0 {
				fmt.Fprintf(a.err, "%s: no jobs, so the output is not a job file 'arbiter apply' accepts\n", opt.Name)
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&system, "system", false, "read a system crontab: a user field after the time fields")
	cmd.Flags().BoolVar(&userForm, "user", false, "read a user crontab, whatever its path")
	return cmd
}

// importingUser is the importing user's name, "" when unknown: system crontab entries of other
// users than this one and root get a comment.
func importingUser() string {
	if u, err := user.Current(); err == nil {
		return u.Username
	}
	return os.Getenv("USER")
}

func importCount(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}
