package daemon

import (
	"bytes"
	"encoding/json"
	"math"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/arbiterd/arbiter"
	"github.com/arbiterd/arbiter/api"
)

// jobJSONStd is what jobEncoder must match: a job as encoding/json writes it in the list.
func jobJSONStd(j *api.Job) (string, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("    ", "  ")
	if err := enc.Encode(j); err != nil {
		return "", err
	}
	return strings.TrimSuffix(buf.String(), "\n"), nil
}

// checkJobJSON fails t unless e encodes j as encoding/json does, or fails where it fails, and
// returns the encoding.
func checkJobJSON(t testing.TB, e *jobEncoder, j *api.Job) string {
	t.Helper()
	want, wantErr := jobJSONStd(j)
	const before = "[before]" // appendJob appends: what is in the buffer stays
	b, err := e.appendJob([]byte(before), j)
	got, ok := strings.CutPrefix(string(b), before)
	if !ok {
		t.Fatalf("appendJob lost the bytes before it: %q", b)
	}
	switch {
	case wantErr != nil || err != nil:
		if wantErr == nil || err == nil || err.Error() != wantErr.Error() {
			t.Fatalf("appendJob error %v, encoding/json error %v", err, wantErr)
		}
		if got != "" {
			t.Fatalf("appendJob failed but appended %q", got)
		}
	case got != want:
		t.Fatalf("appendJob differs from encoding/json\n got: %q\nwant: %q", got, want)
	}
	return got
}

// awkwardStrings are strings encoding/json escapes or replaces, and some it leaves alone.
var awkwardStrings = []string{
	"",
	" ",
	"plain-ascii_0.9~",
	`"`,
	`\`,
	`say "hi" \n`,
	"\b\f\n\r\t",
	"\x00",
	"a\x01\x1fz",
	"\x7f",
	"<>&",
	"backup 2>&1 && echo <done>",
	"\xff",
	"ends mid-rune \xc3",
	"\xed\xa0\x80", // a UTF-16 surrogate spelt in UTF-8: invalid
	"\u2028 and \u2029",
	"\ufffd",
	"emoji 😀",
	"héllo wörld",
	"日本語",
	"/",
	"\u00e9\xe9",
}

var jobTestZones = []*time.Location{
	time.UTC,
	time.FixedZone("CET", 3600),
	time.FixedZone("EST", -5*3600),
	time.FixedZone("IST", 5*3600+30*60),
	time.FixedZone("", -30*60),
	time.FixedZone("LMT", 53*60+28), // seconds in the offset, which RFC 3339 drops
	time.FixedZone("LINT", 14*3600), // the largest offset in use
	time.FixedZone("", -(23*3600 + 59*60)),
}

// randTime is a random time in one of jobTestZones, with and without a fraction of a second.
// Years 2 to 9998, so no zone takes it out of what RFC 3339 can spell.
func randTime(r *rand.Rand) time.Time {
	lo := time.Date(2, 1, 1, 0, 0, 0, 0, time.UTC).Unix()
	hi := time.Date(9998, 12, 31, 0, 0, 0, 0, time.UTC).Unix()
	t := time.Unix(lo+r.Int64N(hi-lo), 0)
	switch r.IntN(3) {
	case 1:
		t = t.Add(time.Duration(r.IntN(1e9)))
	case 2:
		t = t.Add(time.Duration(r.IntN(1000)) * time.Millisecond) // trailing zeros in the fraction
	}
	return t.In(jobTestZones[r.IntN(len(jobTestZones))])
}

func randString(r *rand.Rand) string {
	if r.IntN(2) == 0 {
		return awkwardStrings[r.IntN(len(awkwardStrings))]
	}
	b := make([]byte, r.IntN(12))
	for i := range b {
		if r.IntN(4) == 0 {
			b[i] = byte(r.IntN(256))
		} else {
			b[i] = byte(' ' + r.IntN(95))
		}
	}
	return string(b)
}

// fillRandom sets every field of v, by kind, to a random value that is not empty, so that every
// omitempty field appears. A field of a kind it does not know fails t: teach it, and jobEncoder.
func fillRandom(t testing.TB, r *rand.Rand, v reflect.Value, path string) {
	t.Helper()
	if v.Type() == reflect.TypeFor[time.Time]() {
		v.Set(reflect.ValueOf(randTime(r)))
		return
	}
	switch v.Kind() {
	case reflect.String:
		v.SetString(randString(r))
		if v.Len() == 0 {
			v.SetString("x")
		}
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Int, reflect.Int64:
		n := int64(r.Uint64())
		if r.IntN(4) == 0 {
			n = []int64{math.MinInt64, math.MaxInt64, -1, 0}[r.IntN(4)]
		}
		if v.OverflowInt(n) {
			n = int64(int32(n))
		}
		v.SetInt(n)
	case reflect.Slice:
		n := 1 + r.IntN(3)
		s := reflect.MakeSlice(v.Type(), n, n)
		for i := range s.Len() {
			fillRandom(t, r, s.Index(i), path+"[]")
		}
		v.Set(s)
	case reflect.Map:
		m := reflect.MakeMap(v.Type())
		for range 1 + r.IntN(5) {
			k, e := reflect.New(v.Type().Key()).Elem(), reflect.New(v.Type().Elem()).Elem()
			fillRandom(t, r, k, path+"{key}")
			fillRandom(t, r, e, path+"{}")
			m.SetMapIndex(k, e)
		}
		v.Set(m)
	case reflect.Pointer:
		p := reflect.New(v.Type().Elem())
		fillRandom(t, r, p.Elem(), path)
		v.Set(p)
	case reflect.Struct:
		for i := range v.NumField() {
			fillRandom(t, r, v.Field(i), path+"."+v.Type().Field(i).Name)
		}
	default:
		t.Fatalf("%s is a %s: teach fillRandom and jobEncoder about it", path, v.Type())
	}
}

// zeroSome sets each field of the struct v (and of the structs its pointers lead to) to its
// zero value with even odds.
func zeroSome(r *rand.Rand, v reflect.Value) {
	for i := range v.NumField() {
		f := v.Field(i)
		if r.IntN(2) == 0 {
			f.SetZero()
		} else if f.Kind() == reflect.Pointer && f.Type().Elem().Kind() == reflect.Struct &&
			f.Type().Elem() != reflect.TypeFor[time.Time]() && !f.IsNil() {
			zeroSome(r, f.Elem())
		}
	}
}

// jsonNames lists the JSON names of the fields of struct type typ and of the structs it points
// to, except time.Time.
func jsonNames(typ reflect.Type) []string {
	var names []string
	for f := range typ.Fields() {
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "" {
			name = f.Name
		}
		names = append(names, name)
		if e := f.Type; e.Kind() == reflect.Pointer && e.Elem().Kind() == reflect.Struct && e.Elem() != reflect.TypeFor[time.Time]() {
			names = append(names, jsonNames(e.Elem())...)
		}
	}
	return names
}

func TestJobJSONEveryField(t *testing.T) {
	t.Parallel()
	e := newJobEncoder()
	for seed := range uint64(200) {
		r := rand.New(rand.NewPCG(seed, 1))
		var j api.Job
		fillRandom(t, r, reflect.ValueOf(&j).Elem(), "api.Job")
		got := checkJobJSON(t, e, &j)
		// Matching encoding/json covers a new field too, but say which one is missing.
		for _, name := range jsonNames(reflect.TypeFor[api.Job]()) {
			if !strings.Contains(got, `"`+name+`": `) {
				t.Fatalf("seed %d: field %q missing with every field set:\n%s", seed, name, got)
			}
		}
	}
}

func TestJobJSONRandom(t *testing.T) {
	t.Parallel()
	e := newJobEncoder()
	for seed := range uint64(2000) {
		r := rand.New(rand.NewPCG(seed, 2))
		var j api.Job
		fillRandom(t, r, reflect.ValueOf(&j).Elem(), "api.Job")
		zeroSome(r, reflect.ValueOf(&j).Elem())
		checkJobJSON(t, e, &j)
	}
}

func TestJobJSON(t *testing.T) {
	t.Parallel()
	ptr := func(t time.Time) *time.Time { return &t }
	intPtr := func(n int) *int { return &n }
	at := time.Date(2025, 3, 30, 1, 59, 59, 0, time.UTC)
	typical := api.FromJob(arbiter.Job{
		Name: "backup", Schedule: "0 3 * * *", Timezone: "Europe/Berlin",
		Command: []string{"/usr/local/bin/backup", "--quiet"}, KillGrace: 10 * time.Second,
		Overlap: "skip", Catchup: 5 * time.Minute, RetryDelay: time.Minute, Source: "cli",
		CreatedAt: at, UpdatedAt: at.Add(time.Second),
	}, at.Add(time.Hour), &arbiter.Run{ID: 42, State: "succeeded", ScheduledAt: at, StartedAt: at, FinishedAt: at.Add(time.Millisecond), ExitCode: intPtr(0)})
	with := func(f func(j *api.Job)) *api.Job {
		j := typical
		j.LastRun = new(*typical.LastRun)
		f(&j)
		return &j
	}
	tests := []struct {
		name    string
		job     *api.Job
		wantErr bool
	}{
		{name: "zero", job: &api.Job{}},
		{name: "typical", job: &typical},
		{name: "shell job", job: with(func(j *api.Job) {
			j.Command, j.Shell, j.Dir, j.Timeout, j.Jitter = nil, "backup 2>&1 && echo <done>", "/srv", "1h0m0s", "30s"
		})},
		{name: "empty command", job: with(func(j *api.Job) { j.Command = []string{} })},
		{name: "command of empty strings", job: with(func(j *api.Job) { j.Command = []string{"", ""} })},
		{name: "env nil", job: with(func(j *api.Job) { j.Env = nil })},
		{name: "env empty", job: with(func(j *api.Job) { j.Env = map[string]string{} })},
		{name: "env one", job: with(func(j *api.Job) { j.Env = map[string]string{"A": "1"} })},
		{name: "env out of order", job: with(func(j *api.Job) {
			j.Env = map[string]string{"ZED": "z", "a": "", "PATH": "/bin:/usr/bin", "B_2": "b", "B": "<&>", "é": "\u2028", "": "empty key", "\"q\"": "\\"}
		})},
		{name: "labels", job: with(func(j *api.Job) { j.Labels = []string{"eu", "gpu", "x.y_z-9"} })},
		{name: "one label", job: with(func(j *api.Job) { j.Labels = []string{"gpu"} })},
		{name: "labels empty", job: with(func(j *api.Job) { j.Labels = []string{} })},
		{name: "labels of empty strings", job: with(func(j *api.Job) { j.Labels = []string{"", ""} })},
		{name: "labels with a shell job", job: with(func(j *api.Job) {
			j.Command, j.Shell, j.Env, j.Labels = nil, "nvidia-smi", map[string]string{"A": "1"}, []string{"gpu"}
		})},
		{name: "drifted and paused", job: with(func(j *api.Job) { j.Drifted, j.Paused = true, true })},
		{name: "ints", job: with(func(j *api.Job) {
			j.Retries = math.MinInt
			j.LastRun.ID, j.LastRun.ExitCode = math.MaxInt64, intPtr(-1)
		})},
		{name: "ints other end", job: with(func(j *api.Job) {
			j.Retries = math.MaxInt
			j.LastRun.ID, j.LastRun.ExitCode = math.MinInt64, intPtr(math.MinInt)
		})},
		{name: "pointers nil", job: with(func(j *api.Job) {
			j.NextRun, j.LastRun.StartedAt, j.LastRun.FinishedAt, j.LastRun.ExitCode = nil, nil, nil, nil
		})},
		{name: "no last run", job: with(func(j *api.Job) { j.LastRun = nil })},
		{name: "times", job: with(func(j *api.Job) {
			j.CreatedAt = time.Date(2024, 2, 29, 23, 59, 59, 999999999, time.FixedZone("", -(3*3600+30*60)))
			j.UpdatedAt = time.Date(2024, 1, 1, 0, 0, 0, 100, jobTestZones[5])
			j.NextRun = ptr(time.Date(2024, 10, 27, 2, 30, 0, 500000000, time.FixedZone("CEST", 2*3600)))
			j.LastRun.ScheduledAt = time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC)
			j.LastRun.StartedAt = ptr(time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC))
			j.LastRun.FinishedAt = ptr(time.Date(2030, 6, 15, 12, 0, 0, 1, jobTestZones[6]))
		})},
		{name: "monotonic clock reading", job: with(func(j *api.Job) { j.CreatedAt = time.Now() })},
		{name: "year 10000", job: with(func(j *api.Job) { j.UpdatedAt = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC) }), wantErr: true},
		{name: "year -1", job: with(func(j *api.Job) { j.NextRun = ptr(time.Date(-1, 1, 1, 0, 0, 0, 0, time.UTC)) }), wantErr: true},
		{name: "zone offset 24h", job: with(func(j *api.Job) {
			j.LastRun.FinishedAt = ptr(time.Date(2024, 1, 1, 0, 0, 0, 0, time.FixedZone("", 24*3600)))
		}), wantErr: true},
		{name: "zone offset 100h", job: with(func(j *api.Job) {
			j.LastRun.ScheduledAt = time.Date(2024, 1, 1, 0, 0, 0, 0, time.FixedZone("", -100*3600))
		}), wantErr: true},
	}
	for _, s := range awkwardStrings {
		tests = append(tests, struct {
			name    string
			job     *api.Job
			wantErr bool
		}{name: "strings " + s, job: with(func(j *api.Job) {
			setJobStrings(j, s)
			j.Env = map[string]string{s: s, s + "2": "x"}
		})})
	}
	e := newJobEncoder()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkJobJSON(t, e, tt.job)
			if _, err := jobJSONStd(tt.job); (err != nil) != tt.wantErr {
				t.Fatalf("encoding/json error %v, want error %v: the case does not test what it says", err, tt.wantErr)
			}
		})
	}
}

// setJobStrings sets every string in j, and in its last run, to s.
func setJobStrings(j *api.Job, s string) {
	j.Name, j.Schedule, j.Timezone, j.Shell, j.Dir, j.Timeout = s, s, s, s, s, s
	j.KillGrace, j.Overlap, j.Catchup, j.RetryDelay, j.Jitter, j.Source = s, s, s, s, s, s
	j.Command = []string{s, "x", s}
	j.Labels = []string{"x", s}
	if j.LastRun != nil {
		j.LastRun.State = s
	}
}

func FuzzJobJSON(f *testing.F) {
	for i, s := range awkwardStrings {
		f.Add(s, awkwardStrings[(i+1)%len(awkwardStrings)], awkwardStrings[(i+5)%len(awkwardStrings)], s)
	}
	e := newJobEncoder()
	exit := 3
	f.Fuzz(func(t *testing.T, a, b, c, d string) {
		at := time.Date(2025, 1, 2, 3, 4, 5, 6, time.UTC)
		j := api.Job{
			Name: a, Schedule: b, Timezone: c, Command: []string{a, b, c, d}, Shell: d, Dir: c,
			Env: map[string]string{a: b, c: d, b: a}, Labels: []string{d, c}, Timeout: a, KillGrace: b, Overlap: c, Catchup: d,
			RetryDelay: a, Jitter: b, Source: c, CreatedAt: at, UpdatedAt: at, NextRun: &at,
			LastRun: &api.RunRef{ID: 1, State: d, ScheduledAt: at, StartedAt: &at, ExitCode: &exit},
		}
		checkJobJSON(t, e, &j)
	})
}

// BenchmarkJobJSON encodes a typical job for the list, through encoding/json as the list did
// and through jobEncoder.
func BenchmarkJobJSON(b *testing.B) {
	at := time.Date(2025, 3, 30, 1, 59, 59, 123456789, time.UTC)
	job := scaleJobs(1)[0]
	job.CreatedAt, job.UpdatedAt = at, at
	j := api.FromJob(job, at.Add(time.Hour), &arbiter.Run{ID: 42, State: "succeeded", ScheduledAt: at, StartedAt: at, FinishedAt: at.Add(time.Millisecond), ExitCode: new(0)})
	b.Run("encoding-json", func(b *testing.B) {
		b.ReportAllocs()
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false)
		enc.SetIndent("    ", "  ")
		for b.Loop() {
			buf.Reset()
			if err := enc.Encode(&j); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("hand", func(b *testing.B) {
		b.ReportAllocs()
		e := newJobEncoder()
		var buf []byte
		for b.Loop() {
			var err error
			if buf, err = e.appendJob(buf[:0], &j); err != nil {
				b.Fatal(err)
			}
		}
	})
}
