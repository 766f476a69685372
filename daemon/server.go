package daemon

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/user"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/arbiterd/arbiter"
	"github.com/arbiterd/arbiter/api"
	"github.com/arbiterd/arbiter/store"
)

type peerKey struct{}

// peer is who is on the other end of a socket connection, as the kernel says (SO_PEERCRED).
type peer struct {
	uid, gid int
	ok       bool
}

func (p peer) actor() string {
	if !p.ok {
		return "unknown"
	}
	return "uid:" + strconv.Itoa(p.uid)
}

func (d *Daemon) newServer() *http.Server {
	mux := http.NewServeMux()
	h := func(pattern string, fn func(http.ResponseWriter, *http.Request) error) {
		mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
			if err := fn(w, r); err != nil {
				d.writeError(w, err)
			}
		})
	}
	h("GET /v1/status", d.handleStatus)
	h("GET /v1/version", d.handleVersion)
	h("GET /v1/jobs", d.handleListJobs)
	h("POST /v1/jobs", d.handleCreateJob)
	h("GET /v1/jobs/{name}", d.handleGetJob)
	h("PUT /v1/jobs/{name}", d.handleUpdateJob)
	h("DELETE /v1/jobs/{name}", d.handleDeleteJob)
	h("POST /v1/jobs/{name}/pause", d.handlePause(true))
	h("POST /v1/jobs/{name}/resume", d.handlePause(false))
	h("POST /v1/jobs/{name}/trigger", d.handleTrigger)
	h("GET /v1/jobs/{name}/why", d.handleWhy)
	h("POST /v1/apply", d.handleApply)
	h("POST /v1/reload", d.handleReload)
	h("GET /v1/secrets", d.handleListSecrets)
	h("PUT /v1/secrets/{name}", d.handlePutSecret)
	h("DELETE /v1/secrets/{name}", d.handleDeleteSecret)
	h("POST /v1/secrets/rotate-key", d.handleRotateKey)
	h("GET /v1/runs", d.handleListRuns)
	h("GET /v1/runs/{id}", d.handleGetRun)
	h("GET /v1/runs/{id}/output", d.handleOutput)
	h("POST /v1/runs/{id}/cancel", d.handleCancel)
	h("GET /v1/events", d.handleEvents)
	h("GET /v1/nodes", d.handleNodes)

	return &http.Server{
		Handler:           d.guard(mux),
		ReadHeaderTimeout: 10 * time.Second,
		ConnContext: func(ctx context.Context, c net.Conn) context.Context {
			return context.WithValue(ctx, peerKey{}, peerOf(c))
		},
	}
}

func peerOf(c net.Conn) peer {
	uc, ok := c.(*net.UnixConn)
	if !ok {
		return peer{}
	}
	raw, err := uc.SyscallConn()
	if err != nil {
		return peer{}
	}
	var p peer
	if err := raw.Control(func(fd uintptr) { p = peerCred(int(fd)) }); err != nil {
		return peer{}
	}
	return p
}

// guard refuses callers the daemon does not trust and requests a browser could have forged,
// and answers unknown routes with the API's JSON errors instead of plain text.
func (d *Daemon) guard(mux *http.ServeMux) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, _ := r.Context().Value(peerKey{}).(peer)
		if !d.allowed(p) {
			msg := fmt.Sprintf("uid %d may not use this arbiter daemon; run as root or as its user", p.uid)
			if d.cfg.SocketGroup != "" {
				msg = fmt.Sprintf("uid %d may not use this arbiter daemon; ask an administrator to add you to group %s", p.uid, d.cfg.SocketGroup)
			}
			writeJSONError(w, http.StatusForbidden, api.CodeForbidden, msg)
			return
		}
		if r.Header.Get("Origin") != "" || r.Header.Get("Referer") != "" {
			writeJSONError(w, http.StatusForbidden, api.CodeForbidden, "requests from browsers are refused")
			return
		}
		if _, pattern := mux.Handler(r); pattern == "" {
			probe := &statusProbe{header: http.Header{}}
			mux.ServeHTTP(probe, r)
			if probe.status == http.StatusMethodNotAllowed {
				w.Header().Set("Allow", probe.header.Get("Allow"))
				writeJSONError(w, probe.status, api.CodeMethod, fmt.Sprintf("%s is not allowed on %s (allowed: %s)", r.Method, r.URL.Path, probe.header.Get("Allow")))
				return
			}
			writeJSONError(w, http.StatusNotFound, api.CodeNotFound, fmt.Sprintf("no route %s %s; routes are under %s", r.Method, r.URL.Path, api.Prefix))
			return
		}
		mux.ServeHTTP(w, r)
	})
}

func (d *Daemon) allowed(p peer) bool {
	if !p.ok {
		return false
	}
	if p.uid == 0 || p.uid == d.uid {
		return true
	}
	if d.allowGID < 0 {
		return false
	}
	if p.gid == d.allowGID {
		return true
	}
	u, err := user.LookupId(strconv.Itoa(p.uid))
	if err != nil {
		return false
	}
	gids, err := u.GroupIds()
	return err == nil && slices.Contains(gids, strconv.Itoa(d.allowGID))
}

// statusProbe records what the mux would answer for a request it has no route for.
type statusProbe struct {
	header http.Header
	status int
}

func (s *statusProbe) Header() http.Header         { return s.header }
func (s *statusProbe) Write(b []byte) (int, error) { return len(b), nil }
func (s *statusProbe) WriteHeader(code int)        { s.status = code }

// apiError is an error with the status and code the API answers it with.
type apiError struct {
	status int
	code   string
	msg    string
}

func (e *apiError) Error() string { return e.msg }

func badRequest(format string, args ...any) error {
	return &apiError{http.StatusBadRequest, api.CodeInvalid, fmt.Sprintf(format, args...)}
}

// writeError is the one place where errors become statuses.
func (d *Daemon) writeError(w http.ResponseWriter, err error) {
	var ae *apiError
	var inv *arbiter.InvalidError
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &ae):
		writeJSONError(w, ae.status, ae.code, ae.msg)
	case errors.As(err, &tooBig):
		writeJSONError(w, http.StatusRequestEntityTooLarge, api.CodeTooLarge, fmt.Sprintf("request body is larger than %d bytes", tooBig.Limit))
	case errors.As(err, &inv):
		writeJSONError(w, http.StatusBadRequest, api.CodeInvalid, inv.Error())
	case errors.Is(err, arbiter.ErrInvalid):
		writeJSONError(w, http.StatusBadRequest, api.CodeInvalid, err.Error())
	case errors.Is(err, arbiter.ErrNotFound):
		writeJSONError(w, http.StatusNotFound, api.CodeNotFound, err.Error())
	case errors.Is(err, arbiter.ErrConflict):
		writeJSONError(w, http.StatusConflict, api.CodeConflict, err.Error())
	default:
		d.log.Error("API request failed", "err", err)
		writeJSONError(w, http.StatusInternalServerError, api.CodeInternal, err.Error())
	}
}

func writeJSONError(w http.ResponseWriter, status int, code, msg string) {
	writeJSON(w, status, api.ErrorBody{Error: api.ErrorDetail{Code: code, Message: msg}})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

// decodeJSON reads exactly one JSON value, refusing unknown fields (a typo must not be
// silently ignored) and bodies over api.MaxBodyBytes.
func decodeJSON(w http.ResponseWriter, r *http.Request, v any) error {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, api.MaxBodyBytes))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return err
		}
		if errors.Is(err, io.EOF) {
			return badRequest("request body is empty; send a JSON object")
		}
		return badRequest("request body is not valid JSON for this route: %v", err)
	}
	if dec.More() {
		return badRequest("request body has data after the JSON object")
	}
	return nil
}

func actorOf(r *http.Request) string {
	p, _ := r.Context().Value(peerKey{}).(peer)
	return p.actor()
}

func (d *Daemon) handleStatus(w http.ResponseWriter, r *http.Request) error {
	// Read first, so that whatever the rest of the answer (or a list read after it) misses
	// comes after this event: a client that follows the log from here misses nothing.
	latest, err := d.store.ListEvents(r.Context(), store.EventListParams{Latest: true, Limit: 1})
	if err != nil {
		return err
	}
	counts, err := d.store.Counts(r.Context())
	if err != nil {
		return err
	}
	running, waiting := d.runs.running()
	now := d.clock.Now()
	st := api.Status{
		Version:   d.cfg.Version,
		PID:       unix.Getpid(),
		StartedAt: d.startedAt.UTC(),
		Uptime:    now.Sub(d.startedAt).Round(time.Second).String(),
		DataDir:   d.cfg.DataDir,
		Store:     d.storeName(),
		Socket:    d.cfg.Socket,
		Jobs:      counts.Jobs,
		Paused:    counts.Paused,
		Running:   running,
		Queued:    waiting,
		Runs:      make(map[string]int, len(counts.Runs)),
	}
	if len(latest) > 0 {
		st.LastEventID = latest[0].ID
	}
	st.Node, st.Leader = d.worker, d.isLeader()
	for s, n := range counts.Runs {
		st.Runs[string(s)] = n
	}
	writeJSON(w, http.StatusOK, st)
	return nil
}

func (d *Daemon) handleNodes(w http.ResponseWriter, r *http.Request) error {
	nodes := []arbiter.Node{d.localNode()}
	if d.cluster != nil {
		var err error
		if nodes, err = d.store.ListNodes(r.Context()); err != nil {
			return err
		}
	}
	now := d.clock.Now()
	out := api.NodeList{Nodes: make([]api.Node, len(nodes))}
	for i, n := range nodes {
		out.Nodes[i] = api.FromNode(n, now)
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (d *Daemon) handleVersion(w http.ResponseWriter, r *http.Request) error {
	writeJSON(w, http.StatusOK, api.Version{Version: d.cfg.Version, Commit: d.cfg.Commit, Go: runtime.Version()})
	return nil
}

func (d *Daemon) jobView(j arbiter.Job, last map[string]arbiter.Run) api.Job {
	var lr *arbiter.Run
	if r, ok := last[j.Name]; ok {
		lr = &r
	}
	return api.FromJob(j, d.sched.Next(j.Name), lr)
}

// jobsPage is how many jobs the list reads at a time: the next page is read while the one
// before is encoded and sent.
const jobsPage = 2000

// handleListJobs writes an api.JobList exactly as `arbiter ls -o json` prints it (indented, no
// HTML escapes), so the CLI passes it through as it arrives. It is written a job at a time while
// the next page is read, rather than built whole and then indented: with 100,000 jobs that took
// seconds and held the list three times over. Each job goes through jobEncoder, which writes
// encoding/json's bytes without its reflection and re-indenting, half the list's time.
func (d *Daemon) handleListJobs(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	last, err := d.store.LatestRuns(ctx, nil)
	if err != nil {
		return err
	}
	type page struct {
		jobs []arbiter.Job
		err  error
	}
	pages := make(chan page, 1)
	readCtx, stopReading := context.WithCancel(ctx)
	defer stopReading()
	go func() {
		defer close(pages)
		for after := ""; ; {
			jobs, err := d.store.ListJobsPage(readCtx, store.JobPageParams{After: after, Limit: jobsPage})
			select {
			case pages <- page{jobs, err}:
			case <-readCtx.Done():
				return
			}
			if err != nil || len(jobs) < jobsPage {
				return
			}
			after = jobs[len(jobs)-1].Name
		}
	}()
	p := <-pages
	if p.err != nil {
		return p.err // nothing written yet: an error answer
	}

	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	bw := bufio.NewWriterSize(w, 64<<10)
	enc := newJobEncoder()
	var buf []byte
	n := 0
	for ok := true; ok; p, ok = <-pages {
		if p.err != nil {
			if ctx.Err() != nil {
				return nil // the client went away
			}
			// Too late for an error answer: break the connection, so the client sees a cut-off
			// list fail instead of taking it for the whole.
			d.log.Error("list jobs", "err", p.err)
			panic(http.ErrAbortHandler)
		}
		for _, j := range p.jobs {
			if n == 0 {
				bw.WriteString("{\n  \"jobs\": [\n    ")
			} else {
				bw.WriteString(",\n    ")
			}
			n++
			view := d.jobView(j, last)
			var err error
			if buf, err = enc.appendJob(buf[:0], &view); err != nil {
				panic(fmt.Errorf("list jobs: %w", err)) // not expected: its times are all ones RFC 3339 can spell
			}
			bw.Write(buf)
		}
	}
	if n == 0 {
		bw.WriteString("{\n  \"jobs\": []\n}\n")
	} else {
		bw.WriteString("\n  ]\n}\n")
	}
	_ = bw.Flush() // a client that went away is no error of ours
	return nil
}

func jobErr(name string, err error) error {
	switch {
	case errors.Is(err, arbiter.ErrNotFound):
		return &apiError{http.StatusNotFound, api.CodeNotFound, fmt.Sprintf("no job named %q; `arbiter ls` lists the jobs", name)}
	case errors.Is(err, arbiter.ErrConflict):
		return &apiError{http.StatusConflict, api.CodeConflict, fmt.Sprintf("a job named %q already exists; choose another name", name)}
	}
	return err
}

func (d *Daemon) getJobView(ctx context.Context, name string) (api.Job, error) {
	j, err := d.store.GetJob(ctx, name)
	if err != nil {
		return api.Job{}, jobErr(name, err)
	}
	last, err := d.store.LatestRuns(ctx, []string{name})
	if err != nil {
		return api.Job{}, err
	}
	return d.jobView(j, last), nil
}

// specToJob decodes and validates a job spec from the request.
func specToJob(w http.ResponseWriter, r *http.Request) (arbiter.Job, error) {
	var spec api.JobSpec
	if err := decodeJSON(w, r, &spec); err != nil {
		return arbiter.Job{}, err
	}
	if name := r.PathValue("name"); name != "" {
		if spec.Name != "" && spec.Name != name {
			return arbiter.Job{}, badRequest("the body names job %q but the path names %q; renaming is not supported", spec.Name, name)
		}
		spec.Name = name
	}
	job, err := spec.ToJob()
	if err != nil {
		return arbiter.Job{}, err
	}
	job.Normalize()
	if err := job.Validate(); err != nil {
		return arbiter.Job{}, err
	}
	return job, nil
}

func (d *Daemon) handleCreateJob(w http.ResponseWriter, r *http.Request) error {
	job, err := specToJob(w, r)
	if err != nil {
		return err
	}
	job.Source, job.Drifted = arbiter.SourceCLI, false // job files come in through /v1/apply
	created, err := d.store.CreateJob(r.Context(), store.JobCreateParams{Job: job, Now: d.clock.Now(), Actor: actorOf(r)})
	if err != nil {
		return jobErr(job.Name, err)
	}
	if err := d.sched.Set(created); err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, d.jobView(created, nil))
	return nil
}

func (d *Daemon) handleGetJob(w http.ResponseWriter, r *http.Request) error {
	view, err := d.getJobView(r.Context(), r.PathValue("name"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, view)
	return nil
}

func forced(r *http.Request) bool { return r.URL.Query().Get("force") == "1" }

func (d *Daemon) handleUpdateJob(w http.ResponseWriter, r *http.Request) error {
	job, err := specToJob(w, r)
	if err != nil {
		return err
	}
	cur, err := d.store.GetJob(r.Context(), job.Name)
	if err != nil {
		return jobErr(job.Name, err)
	}
	job.Source, job.Drifted = cur.Source, cur.Drifted
	if cur.Source != arbiter.SourceCLI {
		if !forced(r) {
			return managedErr(cur)
		}
		job.Drifted = true
	}
	updated, err := d.store.UpdateJob(r.Context(), store.JobUpdateParams{Job: job, Now: d.clock.Now(), Actor: actorOf(r)})
	if err != nil {
		return jobErr(job.Name, err)
	}
	if err := d.sched.Set(updated); err != nil {
		return err
	}
	view, err := d.getJobView(r.Context(), job.Name)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, view)
	return nil
}

func (d *Daemon) handleDeleteJob(w http.ResponseWriter, r *http.Request) error {
	name := r.PathValue("name")
	cur, err := d.store.GetJob(r.Context(), name)
	if err != nil {
		return jobErr(name, err)
	}
	if cur.Source != arbiter.SourceCLI && !forced(r) {
		return managedErr(cur)
	}
	if err := d.store.DeleteJob(r.Context(), store.JobDeleteParams{Name: name, Now: d.clock.Now(), Actor: actorOf(r)}); err != nil {
		return jobErr(name, err)
	}
	d.sched.Remove(name)
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (d *Daemon) handlePause(paused bool) func(http.ResponseWriter, *http.Request) error {
	return func(w http.ResponseWriter, r *http.Request) error {
		name := r.PathValue("name")
		cur, err := d.store.GetJob(r.Context(), name)
		if err != nil {
			return jobErr(name, err)
		}
		managed := cur.Source != arbiter.SourceCLI
		if managed && cur.Paused != paused && !forced(r) {
			return managedErr(cur)
		}
		job, err := d.store.SetJobPaused(r.Context(), store.JobSetPausedParams{Name: name, Paused: paused, Drift: managed, Now: d.clock.Now(), Actor: actorOf(r)})
		if err != nil {
			return jobErr(name, err)
		}
		if err := d.sched.Set(job); err != nil {
			return err
		}
		view, err := d.getJobView(r.Context(), name)
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, view)
		return nil
	}
}

func (d *Daemon) handleTrigger(w http.ResponseWriter, r *http.Request) error {
	name := r.PathValue("name")
	job, err := d.store.GetJob(r.Context(), name)
	if err != nil {
		return jobErr(name, err)
	}
	if d.runs.isClosed() {
		return &apiError{http.StatusServiceUnavailable, api.CodeUnavailable, "the daemon is shutting down; try again once it is back"}
	}
	now := d.clock.Now()
	run, err := d.store.InsertRun(r.Context(), store.RunInsertParams{
		Job: name, Trigger: arbiter.TriggerManual, ScheduledAt: now, Now: now, Actor: actorOf(r),
	})
	if err != nil {
		return jobErr(name, err)
	}
	d.enqueue(run, job)
	writeJSON(w, http.StatusAccepted, api.FromRun(run))
	return nil
}

func (d *Daemon) handleListRuns(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	p := store.RunListParams{Job: q.Get("job")}
	var err error
	if p.Limit, err = intParam(q.Get("limit"), "limit", 0, 1000); err != nil {
		return err
	}
	before, err := intParam(q.Get("before"), "before", 0, -1)
	if err != nil {
		return err
	}
	p.BeforeID = int64(before)
	for _, v := range q["state"] {
		for _, s := range strings.Split(v, ",") {
			st := arbiter.RunState(strings.TrimSpace(s))
			if !st.Valid() {
				return badRequest("state %q is not one of %v", s, arbiter.RunStates)
			}
			p.States = append(p.States, st)
		}
	}
	runs, err := d.store.ListRuns(r.Context(), p)
	if err != nil {
		return err
	}
	if len(runs) == 0 && p.Job != "" {
		// A deleted job keeps its history, so only a name with neither a job nor runs is unknown.
		if _, err := d.store.GetJob(r.Context(), p.Job); err != nil {
			return jobErr(p.Job, err)
		}
	}
	out := api.RunList{Runs: make([]api.Run, 0, len(runs))}
	for _, run := range runs {
		out.Runs = append(out.Runs, api.FromRun(run))
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// intParam parses an optional non-negative integer query parameter; max < 0 means no bound.
func intParam(s, name string, def, max int) (int, error) {
	if s == "" {
		return def, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 || (max >= 0 && n > max) {
		if max >= 0 {
			return 0, badRequest("%s must be a whole number from 0 to %d, got %q", name, max, s)
		}
		return 0, badRequest("%s must be a non-negative whole number, got %q", name, s)
	}
	return n, nil
}

// pathRun loads the run named by the request's path.
func (d *Daemon) pathRun(r *http.Request) (arbiter.Run, error) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		return arbiter.Run{}, badRequest("run id must be a positive whole number, got %q", r.PathValue("id"))
	}
	run, err := d.store.GetRun(r.Context(), id)
	if errors.Is(err, arbiter.ErrNotFound) {
		return arbiter.Run{}, &apiError{http.StatusNotFound, api.CodeNotFound, fmt.Sprintf("no run with id %d; `arbiter runs` lists them", id)}
	}
	return run, err
}

func (d *Daemon) handleGetRun(w http.ResponseWriter, r *http.Request) error {
	run, err := d.pathRun(r)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, api.FromRun(run))
	return nil
}

func (d *Daemon) handleCancel(w http.ResponseWriter, r *http.Request) error {
	run, err := d.pathRun(r)
	if err != nil {
		return err
	}
	id := run.ID
	if run.State.Terminal() {
		return &apiError{http.StatusConflict, api.CodeConflict, fmt.Sprintf("run %d already ended (%s)", id, run.State)}
	}
	// Stopped here when this daemon executes it; else a queued run is cancelled in the store and
	// a running one's node is asked to stop it.
	stored, local, err := d.cancelRun(r.Context(), id, &cancelledError{actor: actorOf(r)}, actorOf(r))
	if err != nil {
		return err
	}
	if !local {
		run = stored
	}
	writeJSON(w, http.StatusAccepted, api.FromRun(run))
	return nil
}

// boolParam reads an optional ?name=1|0.
func boolParam(r *http.Request, name string) (bool, error) {
	switch r.URL.Query().Get(name) {
	case "", "0", "false":
		return false, nil
	case "1", "true":
		return true, nil
	}
	return false, badRequest("%s must be 1 or 0", name)
}

// fallbackPoll bounds how long a follower waits without a notification, in case one was missed.
const fallbackPoll = 2 * time.Second

// clusterPoll is the follower's poll when another node of a cluster may write what it follows.
const clusterPoll = 500 * time.Millisecond

// handleOutput writes a run's output as plain text. A gap in chunk numbers (output dropped to
// respect the cap) becomes a marker line. With follow=1 it streams until the run has ended.
func (d *Daemon) handleOutput(w http.ResponseWriter, r *http.Request) error {
	run, err := d.pathRun(r)
	if err != nil {
		return err
	}
	id := run.ID
	after, err := intParam(r.URL.Query().Get("after"), "after", 0, -1)
	if err != nil {
		return err
	}
	follow, err := boolParam(r, "follow")
	if err != nil {
		return err
	}
	ctx := r.Context()
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	rc := http.NewResponseController(w)
	last := int64(after)
	poll := time.NewTimer(fallbackPoll)
	defer poll.Stop()
	for {
		wake := d.outputs.Wait(id) // subscribe before reading, so no chunk slips between
		// The state is read before the chunks: a run's output is all stored before its end
		// is recorded, so once it reads terminal, draining the chunks gets everything.
		run, err = d.store.GetRun(ctx, id)
		if err != nil {
			return nil // the client went away, or the store is closing; the stream just ends
		}
		for {
			chunks, err := d.store.ReadOutput(ctx, store.OutputReadParams{RunID: id, AfterSeq: last})
			if err != nil {
				return nil
			}
			for _, c := range chunks {
				if c.Seq != last+1 {
					fmt.Fprintf(w, "\n[arbiter: %d bytes of output dropped here to keep within the output cap]\n", run.OutputDropped)
				}
				if _, err := w.Write(c.Data); err != nil {
					return nil
				}
				last = c.Seq
			}
			if len(chunks) == 0 {
				break
			}
		}
		if !follow || run.State.Terminal() {
			return nil
		}
		_ = rc.Flush()
		if !d.awaitMore(ctx, wake, poll) {
			return nil
		}
	}
}

// awaitMore is how a following stream waits for more to send: until wake, or the fallback poll.
// False when the stream is over: the client left, or the daemon is stopping.
func (d *Daemon) awaitMore(ctx context.Context, wake <-chan struct{}, poll *time.Timer) bool {
	every := fallbackPoll
	if d.cluster != nil {
		// Another node may be writing what is followed, and only changes of the event log
		// notify across nodes: run output does not.
		every = clusterPoll
	}
	poll.Reset(every)
	select {
	case <-ctx.Done():
		return false
	case <-d.stopping:
		return false
	case <-wake:
	case <-poll.C:
	}
	return true
}
