package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	_ "modernc.org/sqlite" // the driver store/sqlitestore uses, to check the database read-only

	"github.com/arbiterd/arbiter/api"
	"github.com/arbiterd/arbiter/client"
	"github.com/arbiterd/arbiter/internal/config"
	"github.com/arbiterd/arbiter/internal/paths"
	"github.com/arbiterd/arbiter/internal/secretbox"
)

// Outcomes of a doctor check. Only checkFail makes doctor exit 1.
const (
	checkOK   = "ok"
	checkWarn = "warn"
	checkFail = "fail"
	checkSkip = "skipped"
)

// check is one line of `arbiter doctor`.
type check struct {
	Name   string `json:"name"`
	Status string `json:"status"` // checkOK, checkWarn, checkFail or checkSkip
	Detail string `json:"detail"`
	Fix    string `json:"fix,omitempty"` // what to do, for a warning or a failure
}

// doctor gathers what the checks share; each check fills in what later ones use.
type doctor struct {
	ctx     context.Context
	socket  string
	cfg     *config.Resolved // nil when the config could not be read
	sockUID int              // the socket's owner: the daemon's user; -1 when unknown
	status  *api.Status      // nil when the daemon did not answer
	daemonV string
	dataDir string
	checks  []check
}

func (d *doctor) add(name, status, detail, fix string) {
	d.checks = append(d.checks, check{Name: name, Status: status, Detail: detail, Fix: fix})
}

func (a *app) doctorCmd() *cobra.Command {
	var out *format
	cmd := &cobra.Command{
		Use:   "doctor",
		Short: "Check the installation and say what to fix",
		Long: `Check the installation: the daemon's socket and who may use it, the data directory, the
secrets key, the database, the time zone data and the systemd unit. Each problem comes with
what to do about it. Run it as the user who has the problem; as root it can look at more.

Exits 1 when a check fails; warnings alone exit 0.`,
		Args: argsNamed(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			d := &doctor{ctx: cmd.Context(), sockUID: -1}
			configPath, _ := cmd.Flags().GetString("config")
			d.run(a, configPath)
			failed := false
			for _, c := range d.checks {
				failed = failed || c.Status == checkFail
			}
			if *out == formatJSON {
				if err := writeJSON(a.out, struct {
					Checks []check `json:"checks"`
					OK     bool    `json:"ok"`
				}{d.checks, !failed}); err != nil {
					return err
				}
			} else {
				printChecks(a, d.checks)
			}
			if failed {
				return &exitError{code: 1}
			}
			return nil
		},
	}
	configFlag(cmd)
	out = outputFlag(cmd)
	return cmd
}

func printChecks(a *app, checks []check) {
	marks := map[string]string{checkOK: "✓", checkWarn: "!", checkFail: "✗", checkSkip: "-"}
	for _, c := range checks {
		fmt.Fprintf(a.out, "%s %-11s %s\n", marks[c.Status], c.Name, c.Detail)
		if c.Fix != "" {
			fmt.Fprintf(a.out, "  %-11s → %s\n", "", c.Fix)
		}
	}
}

func (d *doctor) run(a *app, configPath string) {
	var err error
	d.cfg, err = config.Load(config.Options{Path: configPath})
	if err != nil {
		d.add("config", checkWarn, err.Error(), "fix the config file, or run doctor as a user who may read it; the checks below use the defaults")
	}
	if d.socket, err = a.socketPath(); err != nil {
		d.add("socket", checkFail, err.Error(), "")
	} else {
		d.checkSocket()
		d.checkAccess()
	}
	d.checkVersion()
	d.resolveDataDir()
	d.checkDataDir()
	d.checkKey()
	if d.postgres() {
		d.checkCluster()
	} else {
		d.checkDatabase()
	}
	d.checkZones()
	d.checkSystemd()
}

func (d *doctor) socketGroup() string {
	if d.cfg == nil {
		return ""
	}
	return d.cfg.SocketGroup
}

// How the installed service is started, restarted and read: systemd's on Linux, Homebrew's
// (launchd) on macOS.
var (
	startHint   = "start the daemon: sudo systemctl start arbiter, or run `arbiter daemon`"
	restartHint = "restart the daemon after an upgrade: sudo systemctl restart arbiter"
	logHint     = "journalctl -u arbiter"
)

func init() {
	if runtime.GOOS == "darwin" {
		startHint = "start the daemon: brew services start arbiter, or run `arbiter daemon`"
		restartHint = "restart the daemon after an upgrade: brew services restart arbiter"
		logHint = "$(brew --prefix)/var/log/arbiter.log"
	}
}

// checkSocket looks at the socket file: it exists, and its mode and group let the configured
// group in.
func (d *doctor) checkSocket() {
	fi, err := os.Lstat(d.socket)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		d.add("socket", checkFail, "no socket at "+d.socket, startHint)
		return
	case errors.Is(err, fs.ErrPermission):
		d.add("socket", checkFail, "cannot look into "+filepath.Dir(d.socket)+" as this user", "run doctor as root or as a member of the socket's group")
		return
	case err != nil:
		d.add("socket", checkFail, err.Error(), "")
		return
	case fi.Mode()&fs.ModeSocket == 0:
		d.add("socket", checkFail, d.socket+" is not a socket", "stop the daemon, remove "+d.socket+" and start the daemon again")
		return
	}
	st := fi.Sys().(*syscall.Stat_t)
	d.sockUID = int(st.Uid)
	owner, group := userName(st.Uid), groupName(st.Gid)
	detail := fmt.Sprintf("%s (mode %04o, owner %s, group %s)", d.socket, fi.Mode().Perm(), owner, group)
	want := d.socketGroup()
	switch {
	case fi.Mode().Perm() != 0o660:
		d.add("socket", checkWarn, detail+"; want mode 0660", "restart the daemon: it sets the mode when it starts")
	case want != "" && want != group && want != strconv.FormatUint(uint64(st.Gid), 10):
		d.add("socket", checkFail, fmt.Sprintf("%s; the config names socket_group %q", detail, want), "restart the daemon so that it gives the socket to group "+want)
	default:
		d.add("socket", checkOK, detail, "")
	}
}

// checkAccess asks the daemon for its status, as every command would.
func (d *doctor) checkAccess() {
	if _, err := os.Lstat(d.socket); errors.Is(err, fs.ErrNotExist) {
		d.add("access", checkSkip, "no socket to connect to", "")
		return
	}
	c := client.New(d.socket)
	ctx, cancel := context.WithTimeout(d.ctx, 5*time.Second)
	defer cancel()
	st, err := c.Status(ctx)
	var nr *client.NotRunningError
	var ad *client.AccessDeniedError
	var ae *client.APIError
	switch {
	case err == nil:
		d.status = &st
		d.daemonV = st.Version
		d.add("access", checkOK, fmt.Sprintf("this user may use the daemon (pid %d, %d jobs)", st.PID, st.Jobs), "")
	case errors.As(err, &nr):
		d.add("access", checkFail, "nothing answers on "+d.socket, startHint+"; if it fails, read its log: "+logHint)
	case errors.As(err, &ad):
		// The error already says which group to join; split the fix off for the listing.
		msg, fix, _ := strings.Cut(ad.Error(), "; ")
		d.add("access", checkFail, msg, fix)
	case errors.As(err, &ae) && ae.Status == http.StatusForbidden:
		fix := "run the command as the daemon's user or root"
		if g := d.socketGroup(); g != "" {
			fix = fmt.Sprintf("ask an administrator to add you to group %s (sudo usermod -aG %s $USER), then log in again", g, g)
		}
		d.add("access", checkFail, "the daemon refuses this user: "+ae.Message, fix)
	default:
		d.add("access", checkFail, err.Error(), "read the daemon's log: journalctl -u arbiter")
	}
}

func (d *doctor) checkVersion() {
	switch {
	case d.status == nil:
		d.add("version", checkSkip, "cli "+version+"; the daemon did not answer", "")
	case d.daemonV != version:
		d.add("version", checkWarn, fmt.Sprintf("daemon %s, cli %s", d.daemonV, version), restartHint)
	default:
		d.add("version", checkOK, "daemon and cli are both "+version, "")
	}
}

// resolveDataDir prefers the daemon's own answer, then the settings it would resolve.
func (d *doctor) resolveDataDir() {
	switch {
	case d.status != nil && d.status.DataDir != "":
		d.dataDir = d.status.DataDir
	case d.cfg != nil:
		d.dataDir = d.cfg.DataDir
	default:
		d.dataDir, _ = paths.DataDir()
	}
}

func (d *doctor) checkDataDir() {
	if d.dataDir == "" {
		d.add("data dir", checkFail, "cannot tell where the data directory is", "set ARBITER_DATA_DIR or data_dir in the config")
		return
	}
	fi, err := os.Stat(d.dataDir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		d.add("data dir", checkFail, "no data directory at "+d.dataDir, startHint+"; it creates the directory")
		return
	case err != nil:
		d.add("data dir", checkWarn, "cannot look at "+d.dataDir+": "+err.Error(), "run doctor as root to check it")
		return
	case !fi.IsDir():
		d.add("data dir", checkFail, d.dataDir+" is not a directory", "")
		return
	}
	st := fi.Sys().(*syscall.Stat_t)
	detail := fmt.Sprintf("%s (mode %04o, owner %s)", d.dataDir, fi.Mode().Perm(), userName(st.Uid))
	switch {
	case d.sockUID >= 0 && int(st.Uid) != d.sockUID:
		who := userName(uint32(d.sockUID))
		d.add("data dir", checkFail, detail+"; the daemon runs as "+who, fmt.Sprintf("sudo chown -R %s: %s", who, d.dataDir))
	case fi.Mode().Perm()&0o002 != 0:
		d.add("data dir", checkFail, detail+"; anyone may write to it", "sudo chmod o-w "+d.dataDir)
	default:
		d.add("data dir", checkOK, detail, "")
	}
}

// checkKey applies the daemon's rule: a key file group or others may read or write is refused.
func (d *doctor) checkKey() {
	path, _ := secretbox.KeyPath(d.dataDir)
	if d.cfg != nil && d.cfg.KeyFile != "" {
		path = d.cfg.KeyFile
	}
	fi, err := os.Stat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		d.add("key file", checkWarn, "no secrets key at "+path, "the daemon creates it when it starts without secrets; if secrets were stored, restore the key from a backup")
	case err != nil:
		d.add("key file", checkWarn, "cannot look at "+path+": "+err.Error(), "run doctor as root to check it")
	case fi.Mode().Perm()&0o077 != 0:
		d.add("key file", checkFail, fmt.Sprintf("%s has mode %04o: others may read the key of every secret", path, fi.Mode().Perm()), "chmod 600 "+path)
	default:
		d.add("key file", checkOK, fmt.Sprintf("%s (mode %04o)", path, fi.Mode().Perm()), "")
	}
}

// postgres reports whether the daemon keeps its data in a Postgres store, shared by a cluster.
func (d *doctor) postgres() bool {
	if d.status != nil {
		return !strings.HasPrefix(d.status.Store, "sqlite:")
	}
	return d.cfg != nil && d.cfg.Store != ""
}

// checkCluster looks at the nodes sharing the Postgres store: every live node must hold the same
// secrets key, or a secret stored through one node fails to open on another.
func (d *doctor) checkCluster() {
	if d.status == nil {
		d.add("cluster", checkSkip, "the daemon did not answer; the nodes are listed by a running daemon", "")
		return
	}
	nodes, err := client.New(d.socket).Nodes(d.ctx)
	if err != nil {
		d.add("cluster", checkWarn, "cannot list the nodes: "+err.Error(), "")
		return
	}
	live := 0
	leader := ""
	for _, n := range nodes {
		if n.Live {
			live++
		}
		if n.Leader {
			leader = n.Name
		}
	}
	keys := keyIDs(nodes)
	switch {
	case len(keys) > 1:
		var holders []string
		for _, n := range nodes {
			if n.Live {
				holders = append(holders, n.Name+": "+n.KeyID)
			}
		}
		d.add("cluster", checkFail, fmt.Sprintf("the live nodes hold different secrets keys (%s)", strings.Join(holders, ", ")),
			"copy the key file of the node that stored the secrets (secret.key in its data dir) to every other node, then restart them")
	case leader == "":
		d.add("cluster", checkWarn, fmt.Sprintf("%d live nodes, none of them the scheduler: nothing fires", live),
			"start a node with the scheduler role (`arbiter daemon --roles scheduler,...`), or wait a few seconds for one to take over")
	default:
		d.add("cluster", checkOK, fmt.Sprintf("%d live nodes on %s, %s the scheduler, one secrets key", live, d.status.Store, leader), "")
	}
}

// checkDatabase opens the database read-only, so that it cannot disturb the daemon, and runs
// SQLite's integrity check.
func (d *doctor) checkDatabase() {
	path := filepath.Join(d.dataDir, "arbiter.db")
	f, err := os.Open(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		d.add("database", checkFail, "no database at "+path, startHint+"; it creates the database")
		return
	case err != nil:
		d.add("database", checkSkip, "cannot read "+path+" as this user", "run `sudo arbiter doctor` to check it")
		return
	}
	f.Close()
	q := url.Values{}
	q.Set("mode", "ro")
	q.Add("_pragma", "query_only(1)")
	q.Add("_pragma", "busy_timeout(5000)") // the daemon may be writing
	db, err := sql.Open("sqlite", (&url.URL{Scheme: "file", Path: path, RawQuery: q.Encode()}).String())
	if err != nil {
		d.add("database", checkFail, "open "+path+": "+err.Error(), "")
		return
	}
	defer db.Close()
	ctx, cancel := context.WithTimeout(d.ctx, time.Minute)
	defer cancel()
	var result string
	var schema int
	if err := db.QueryRowContext(ctx, "PRAGMA integrity_check").Scan(&result); err != nil {
		d.add("database", checkFail, "check "+path+": "+err.Error(), "")
		return
	}
	if err := db.QueryRowContext(ctx, "PRAGMA user_version").Scan(&schema); err != nil {
		d.add("database", checkFail, "read the schema version of "+path+": "+err.Error(), "")
		return
	}
	if result != "ok" {
		d.add("database", checkFail, path+" is damaged: "+result,
			"stop the daemon and restore the database from a backup (or try: sqlite3 "+path+" .recover)")
		return
	}
	d.add("database", checkOK, fmt.Sprintf("%s is intact (schema version %d)", path, schema), "")
}

// checkZones: job schedules need IANA zone data. The binary embeds a copy (time/tzdata), but
// the system's is kept up to date with the rules, so it is the one to have.
func (d *doctor) checkZones() {
	if _, err := time.LoadLocation("Europe/Berlin"); err != nil {
		d.add("time zones", checkFail, "cannot load zone Europe/Berlin: "+err.Error(), "install the zone data: sudo apt install tzdata")
		return
	}
	const system = "/usr/share/zoneinfo"
	if fi, err := os.Stat(system); err != nil || !fi.IsDir() {
		d.add("time zones", checkWarn, "no "+system+"; using the zone data built into arbiter, which may be older",
			"install the zone data: sudo apt install tzdata (or dnf install tzdata)")
		return
	}
	d.add("time zones", checkOK, "zone data in "+system, "")
}

// checkSystemd reports the unit's state. Without systemd as init (containers, macOS) or
// without the unit (a daemon run by hand), there is nothing to check.
func (d *doctor) checkSystemd() {
	systemctl, err := exec.LookPath("systemctl")
	if err != nil {
		d.add("systemd", checkSkip, "no systemctl", "")
		return
	}
	if _, err := os.Stat("/run/systemd/system"); err != nil { // sd_booted(3)'s test
		d.add("systemd", checkSkip, "systemd is not running", "")
		return
	}
	state := func(verb string) string {
		ctx, cancel := context.WithTimeout(d.ctx, 5*time.Second)
		defer cancel()
		out, _ := exec.CommandContext(ctx, systemctl, verb, "arbiter.service").Output() // the state is printed whatever the exit status
		return strings.TrimSpace(string(out))
	}
	enabled, active := state("is-enabled"), state("is-active")
	detail := fmt.Sprintf("arbiter.service is %s and %s", active, enabled)
	switch {
	case enabled == "" || enabled == "not-found":
		d.add("systemd", checkSkip, "no arbiter.service unit", "")
	case active != "active":
		d.add("systemd", checkFail, detail, "sudo systemctl enable --now arbiter; if it fails: journalctl -u arbiter")
	case enabled != "enabled":
		d.add("systemd", checkWarn, detail+": it will not start at boot", "sudo systemctl enable arbiter")
	default:
		d.add("systemd", checkOK, detail, "")
	}
}

func userName(uid uint32) string {
	id := strconv.FormatUint(uint64(uid), 10)
	if u, err := user.LookupId(id); err == nil {
		return u.Username
	}
	return id
}

func groupName(gid uint32) string {
	id := strconv.FormatUint(uint64(gid), 10)
	if g, err := user.LookupGroupId(id); err == nil {
		return g.Name
	}
	return id
}
