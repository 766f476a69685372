// Package client is the one Go client of arbiter's control API, used by the CLI and the TUI.
// It speaks HTTP/1.1 over the daemon's Unix socket; see package api for the routes.
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/user"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/arbiterd/arbiter"
	"github.com/arbiterd/arbiter/api"
)

// baseURL is only a placeholder: every connection goes to the socket whatever the host says.
const baseURL = "http://arbiter"

// Client talks to one daemon. It is safe for concurrent use.
type Client struct {
	socket string
	hc     *http.Client
}

// New returns a client for the daemon listening on socketPath. It does not connect yet.
func New(socketPath string) *Client {
	c := &Client{socket: socketPath}
	var d net.Dialer
	c.hc = &http.Client{
		// No Timeout: output streams last as long as their run; callers bound calls with ctx.
		Transport: &http.Transport{
			// Proxy stays nil on purpose: HTTP_PROXY must never divert a local socket.
			DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
				conn, err := d.DialContext(ctx, "unix", socketPath)
				switch {
				case err == nil:
				case errors.Is(err, syscall.ENOENT) || errors.Is(err, syscall.ECONNREFUSED):
					return nil, &NotRunningError{Socket: socketPath, Err: err}
				case errors.Is(err, syscall.EACCES):
					return nil, accessDenied(socketPath, err)
				}
				return conn, err
			},
		},
	}
	return c
}

// Socket is the path the client dials.
func (c *Client) Socket() string { return c.socket }

// NotRunningError says that nothing listens on the socket: it does not exist, or its daemon
// is gone.
type NotRunningError struct {
	Socket string
	Err    error
}

func (e *NotRunningError) Error() string {
	return fmt.Sprintf("cannot reach the arbiter daemon at %s: is `arbiter daemon` running? (set --socket or ARBITER_SOCKET to use another socket)", e.Socket)
}

func (e *NotRunningError) Unwrap() error { return e.Err }

// AccessDeniedError says that the socket exists but this user may not connect to it: the
// daemon's socket is open to its owner and the members of one group only.
type AccessDeniedError struct {
	Socket string
	Owner  string // the socket's owner, "" when it cannot be looked at
	Group  string // the group that may use the socket, "" when none can
	Err    error
}

func (e *AccessDeniedError) Error() string {
	switch {
	case e.Group != "":
		return fmt.Sprintf("permission denied on %s: it belongs to group %q; ask an administrator to add you (sudo usermod -aG %s $USER), then log in again", e.Socket, e.Group, e.Group)
	case e.Owner != "":
		return fmt.Sprintf("permission denied on %s: only its owner %q may use it; run the command as %s or with sudo, or ask an administrator to set socket_group in the daemon's config", e.Socket, e.Owner, e.Owner)
	}
	return fmt.Sprintf("permission denied on %s: this user may not use the arbiter daemon's socket (or the directory holding it); run the command with sudo or ask an administrator for access", e.Socket)
}

func (e *AccessDeniedError) Unwrap() error { return e.Err }

// accessDenied explains a connect that failed with err (EACCES) from the socket's owner, group
// and mode, so that the message names the group to join, if joining one would help.
func accessDenied(socket string, err error) *AccessDeniedError {
	e := &AccessDeniedError{Socket: socket, Err: err}
	fi, serr := os.Stat(socket)
	if serr != nil {
		return e // e.g. the directory is closed to this user: nothing more to tell
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return e
	}
	e.Owner = strconv.FormatUint(uint64(st.Uid), 10)
	if u, err := user.LookupId(e.Owner); err == nil {
		e.Owner = u.Username
	}
	// Connecting needs write permission; joining a group without it would not help.
	if fi.Mode().Perm()&0o020 != 0 && st.Gid != 0 {
		e.Group = strconv.FormatUint(uint64(st.Gid), 10)
		if g, err := user.LookupGroupId(e.Group); err == nil {
			e.Group = g.Name
		}
	}
	return e
}

// APIError is an error answer of the daemon.
type APIError struct {
	Status  int    // HTTP status
	Code    string // one of the api.Code* constants
	Message string
}

func (e *APIError) Error() string {
	if e.Message != "" {
		return e.Message
	}
	return fmt.Sprintf("the daemon answered %d %s", e.Status, http.StatusText(e.Status))
}

// Is lets callers test answers against the domain's sentinels, e.g. errors.Is(err,
// arbiter.ErrNotFound), the same way they test errors of a local store.
func (e *APIError) Is(target error) bool {
	switch e.Code {
	case api.CodeNotFound:
		return target == arbiter.ErrNotFound
	case api.CodeConflict:
		return target == arbiter.ErrConflict
	case api.CodeInvalid:
		return target == arbiter.ErrInvalid
	}
	return false
}

// codeOf guesses an error code from the status when the body carries none (a proxy, a panic
// page), so that errors.Is still works.
func codeOf(status int) string {
	switch status {
	case http.StatusBadRequest:
		return api.CodeInvalid
	case http.StatusForbidden:
		return api.CodeForbidden
	case http.StatusNotFound:
		return api.CodeNotFound
	case http.StatusMethodNotAllowed:
		return api.CodeMethod
	case http.StatusConflict:
		return api.CodeConflict
	case http.StatusRequestEntityTooLarge:
		return api.CodeTooLarge
	case http.StatusUnsupportedMediaType:
		return api.CodeUnsupported
	case http.StatusServiceUnavailable:
		return api.CodeUnavailable
	}
	return api.CodeInternal
}

// maxErrorBody caps how much of an error answer is read; error bodies are short.
const maxErrorBody = 64 << 10

func decodeError(resp *http.Response) error {
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	var body api.ErrorBody
	if json.Unmarshal(raw, &body) == nil && body.Error.Code != "" {
		return &APIError{Status: resp.StatusCode, Code: body.Error.Code, Message: body.Error.Message}
	}
	return &APIError{Status: resp.StatusCode, Code: codeOf(resp.StatusCode), Message: strings.TrimSpace(string(raw))}
}

// send performs a request and returns the response of a 2xx answer; the caller closes its body.
func (c *Client) send(ctx context.Context, method, path string, query url.Values, in any) (*http.Response, error) {
	u := baseURL + api.Prefix + path
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return nil, fmt.Errorf("encode request: %w", err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return nil, err
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("User-Agent", "arbiter-client")
	resp, err := c.hc.Do(req)
	if err != nil {
		if ctxErr := ctx.Err(); ctxErr != nil {
			return nil, ctxErr
		}
		// Drop url.Error's `Get "http://arbiter/...": `, which names a host that does not exist.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		// The socket's own errors say everything; the route would only be noise in front.
		var nr *NotRunningError
		var ad *AccessDeniedError
		switch {
		case errors.As(err, &nr):
			return nil, nr
		case errors.As(err, &ad):
			return nil, ad
		}
		return nil, fmt.Errorf("%s %s: %w", method, api.Prefix+path, err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		defer resp.Body.Close()
		return nil, decodeError(resp)
	}
	return resp, nil
}

// do performs a JSON call, decoding the answer into out unless out is nil.
func (c *Client) do(ctx context.Context, method, path string, query url.Values, in, out any) error {
	resp, err := c.send(ctx, method, path, query, in)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if out == nil {
		return nil
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("decode answer of %s %s: %w", method, api.Prefix+path, err)
	}
	return nil
}

func jobPath(name string, rest ...string) string {
	return "/jobs/" + url.PathEscape(name) + strings.Join(rest, "")
}

func runPath(id int64, rest ...string) string {
	return "/runs/" + strconv.FormatInt(id, 10) + strings.Join(rest, "")
}

// Status reports the daemon's state.
func (c *Client) Status(ctx context.Context) (api.Status, error) {
	var st api.Status
	err := c.do(ctx, http.MethodGet, "/status", nil, nil, &st)
	return st, err
}

// Nodes lists the daemons of the cluster; a daemon on SQLite is the only one.
func (c *Client) Nodes(ctx context.Context) ([]api.Node, error) {
	var l api.NodeList
	err := c.do(ctx, http.MethodGet, "/nodes", nil, nil, &l)
	return l.Nodes, err
}

// Version reports the daemon's version.
func (c *Client) Version(ctx context.Context) (api.Version, error) {
	var v api.Version
	err := c.do(ctx, http.MethodGet, "/version", nil, nil, &v)
	return v, err
}

// ListJobs returns every job.
func (c *Client) ListJobs(ctx context.Context) ([]api.Job, error) {
	var l api.JobList
	err := c.do(ctx, http.MethodGet, "/jobs", nil, nil, &l)
	return l.Jobs, err
}

// JobsJSON copies the daemon's JSON answer for the job list (an api.JobList, indented) to w as
// it arrives: nothing is decoded, so printing 100,000 jobs does not hold them all or pay for a
// decode and an encode. A list cut short (the daemon died, or failed mid-way) is an error.
func (c *Client) JobsJSON(ctx context.Context, w io.Writer) error {
	resp, err := c.send(ctx, http.MethodGet, "/jobs", nil, nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if _, err := io.Copy(w, resp.Body); err != nil {
		return fmt.Errorf("read answer of GET %s/jobs: %w", api.Prefix, err)
	}
	return nil
}

// GetJob returns one job.
func (c *Client) GetJob(ctx context.Context, name string) (api.Job, error) {
	var j api.Job
	err := c.do(ctx, http.MethodGet, jobPath(name), nil, nil, &j)
	return j, err
}

// CreateJob creates a job; a job of the same name is a conflict (arbiter.ErrConflict).
func (c *Client) CreateJob(ctx context.Context, spec api.JobSpec) (api.Job, error) {
	var j api.Job
	err := c.do(ctx, http.MethodPost, "/jobs", nil, spec, &j)
	return j, err
}

// UpdateJob replaces the spec of the job called name.
func (c *Client) UpdateJob(ctx context.Context, name string, spec api.JobSpec) (api.Job, error) {
	var j api.Job
	err := c.do(ctx, http.MethodPut, jobPath(name), nil, spec, &j)
	return j, err
}

// forceQuery asks the daemon to change a job a job file manages anyway (marking it drifted).
func forceQuery(force bool) url.Values {
	if !force {
		return nil
	}
	return url.Values{"force": {"1"}}
}

// DeleteJob deletes a job; its run history is kept. A job file's job needs force.
func (c *Client) DeleteJob(ctx context.Context, name string, force bool) error {
	return c.do(ctx, http.MethodDelete, jobPath(name), forceQuery(force), nil, nil)
}

// PauseJob stops a job from firing until it is resumed. A job file's job needs force.
func (c *Client) PauseJob(ctx context.Context, name string, force bool) (api.Job, error) {
	var j api.Job
	err := c.do(ctx, http.MethodPost, jobPath(name, "/pause"), forceQuery(force), nil, &j)
	return j, err
}

// ResumeJob lets a paused job fire again. A job file's job needs force.
func (c *Client) ResumeJob(ctx context.Context, name string, force bool) (api.Job, error) {
	var j api.Job
	err := c.do(ctx, http.MethodPost, jobPath(name, "/resume"), forceQuery(force), nil, &j)
	return j, err
}

// Apply sends the jobs of a set of job files; the daemon answers with its plan, applied unless
// DryRun.
func (c *Client) Apply(ctx context.Context, req api.ApplyRequest) (api.Plan, error) {
	var p api.Plan
	err := c.do(ctx, http.MethodPost, "/apply", nil, req, &p)
	return p, err
}

// TriggerJob starts a manual run of a job now.
func (c *Client) TriggerJob(ctx context.Context, name string) (api.Run, error) {
	var r api.Run
	err := c.do(ctx, http.MethodPost, jobPath(name, "/trigger"), nil, nil, &r)
	return r, err
}

// Why explains what happened, or will happen, to the job's first fire at or after at (to the
// second); a zero at leaves the time to the daemon, which takes its now.
func (c *Client) Why(ctx context.Context, name string, at time.Time) (api.Why, error) {
	q := url.Values{}
	if !at.IsZero() {
		q.Set("at", at.UTC().Format(time.RFC3339Nano))
	}
	var w api.Why
	err := c.do(ctx, http.MethodGet, jobPath(name, "/why"), q, nil, &w)
	return w, err
}

// ListRuns returns runs, newest first.
func (c *Client) ListRuns(ctx context.Context, q api.RunsQuery) ([]api.Run, error) {
	var l api.RunList
	err := c.do(ctx, http.MethodGet, "/runs", q.Values(), nil, &l)
	return l.Runs, err
}

// GetRun returns one run.
func (c *Client) GetRun(ctx context.Context, id int64) (api.Run, error) {
	var r api.Run
	err := c.do(ctx, http.MethodGet, runPath(id), nil, nil, &r)
	return r, err
}

// CancelRun asks the daemon to stop a queued or running run. The run it returns may still be
// running while its process is being stopped.
func (c *Client) CancelRun(ctx context.Context, id int64) (api.Run, error) {
	var r api.Run
	err := c.do(ctx, http.MethodPost, runPath(id, "/cancel"), nil, nil, &r)
	return r, err
}

// Output returns a run's output as text, from after the chunk numbered after (0: from the
// start). With follow the stream lasts until the run ends or ctx is done. The caller closes it.
func (c *Client) Output(ctx context.Context, id, after int64, follow bool) (io.ReadCloser, error) {
	q := url.Values{}
	if after > 0 {
		q.Set("after", strconv.FormatInt(after, 10))
	}
	if follow {
		q.Set("follow", "1")
	}
	resp, err := c.send(ctx, http.MethodGet, runPath(id, "/output"), q, nil)
	if err != nil {
		return nil, err
	}
	return resp.Body, nil
}

// EventsQuery selects a page of the event log. Zero fields do not filter.
type EventsQuery struct {
	Job    string
	After  int64 // only events with a larger id
	Limit  int   // at most this many; 0 leaves it to the daemon (1,000)
	Latest bool  // the newest Limit events rather than the oldest
}

// Events returns a page of the event log, oldest first.
func (c *Client) Events(ctx context.Context, eq EventsQuery) ([]api.Event, error) {
	q := url.Values{"after": {strconv.FormatInt(eq.After, 10)}}
	if eq.Job != "" {
		q.Set("job", eq.Job)
	}
	if eq.Limit > 0 {
		q.Set("limit", strconv.Itoa(eq.Limit))
	}
	if eq.Latest {
		q.Set("latest", "1")
	}
	resp, err := c.send(ctx, http.MethodGet, "/events", q, nil)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var events []api.Event
	err = decodeEvents(resp.Body, func(e api.Event) error {
		events = append(events, e)
		return nil
	})
	if err == io.EOF {
		err = nil
	}
	return events, err
}

// WatchEvents follows the event log: the events with an id above after (after < 0: only those
// from now on), oldest first, then each new one as its change commits. It calls fn for each and
// returns when ctx ends (ctx's error), fn fails (fn's error) or the stream breaks, as it does
// when the daemon stops; the caller may then watch again from the last id it saw.
func (c *Client) WatchEvents(ctx context.Context, after int64, fn func(api.Event) error) error {
	q := url.Values{"follow": {"1"}}
	if after >= 0 {
		q.Set("after", strconv.FormatInt(after, 10))
	}
	resp, err := c.send(ctx, http.MethodGet, "/events", q, nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	err = decodeEvents(resp.Body, fn)
	if ctxErr := ctx.Err(); ctxErr != nil {
		return ctxErr
	}
	if err == io.EOF {
		return errors.New("the event stream ended: the daemon closed it")
	}
	return err
}

// decodeEvents calls fn for each JSON line of r until r or fn fails; io.EOF at a clean end.
func decodeEvents(r io.Reader, fn func(api.Event) error) error {
	dec := json.NewDecoder(r)
	for {
		var e api.Event
		if err := dec.Decode(&e); err != nil {
			if err == io.EOF {
				return err
			}
			return fmt.Errorf("read events: %w", err)
		}
		if err := fn(e); err != nil {
			return err
		}
	}
}

// Reload makes the daemon apply its jobs dir again and waits for the result.
func (c *Client) Reload(ctx context.Context) (api.Plan, error) {
	var p api.Plan
	err := c.do(ctx, http.MethodPost, "/reload", nil, nil, &p)
	return p, err
}
