package daemon

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/arbiterd/arbiter/api"
)

// jobEncoder appends an api.Job as a list element of GET /v1/jobs: exactly the bytes that a
// json.Encoder with SetEscapeHTML(false) and SetIndent("    ", "  ") writes, less the final
// newline. encoding/json spent most of a 100,000-job list in reflection and in re-indenting its
// own compact output; this writes the indented form directly. What it does not do fast (strings
// that need escapes, times that are not valid RFC 3339) goes to encoding/json, so the bytes
// always match. jobjson_test.go fills every field of api.Job by reflection and compares with
// encoding/json: a field added to api.Job fails it until it is added here too.
//
// A jobEncoder is not safe for concurrent use.
type jobEncoder struct {
	buf bytes.Buffer
	enc *json.Encoder
}

func newJobEncoder() *jobEncoder {
	e := &jobEncoder{}
	e.enc = json.NewEncoder(&e.buf)
	e.enc.SetEscapeHTML(false) // "2>&1" in a shell command stays readable
	e.enc.SetIndent("    ", "  ")
	return e
}

// Line starts: the job's fields sit one indent in from the "    " prefix, the contents of
// command, env, labels and last_run two.
const (
	jobNL1 = "\n      "
	jobNL2 = "\n        "
)

// appendJob appends j to b. It fails only where encoding/json fails (a time outside what RFC
// 3339 can spell), with encoding/json's error.
func (e *jobEncoder) appendJob(b []byte, j *api.Job) ([]byte, error) {
	start := len(b)
	ok := true
	b = append(b, "{"+jobNL1+`"name": `...)
	b = e.appendString(b, j.Name)
	b = append(b, ","+jobNL1+`"schedule": `...)
	b = e.appendString(b, j.Schedule)
	b = append(b, ","+jobNL1+`"timezone": `...)
	b = e.appendString(b, j.Timezone)
	if len(j.Command) > 0 {
		b = append(b, ","+jobNL1+`"command": [`...)
		for i, c := range j.Command {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, jobNL2...)
			b = e.appendString(b, c)
		}
		b = append(b, jobNL1+"]"...)
	}
	if j.Shell != "" {
		b = append(b, ","+jobNL1+`"shell": `...)
		b = e.appendString(b, j.Shell)
	}
	if j.Dir != "" {
		b = append(b, ","+jobNL1+`"dir": `...)
		b = e.appendString(b, j.Dir)
	}
	if len(j.Env) > 0 {
		b = append(b, ","+jobNL1+`"env": {`...)
		// encoding/json sorts map keys bytewise, as slices.Sorted does strings.
		for i, k := range slices.Sorted(maps.Keys(j.Env)) {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, jobNL2...)
			b = e.appendString(b, k)
			b = append(b, ": "...)
			b = e.appendString(b, j.Env[k])
		}
		b = append(b, jobNL1+"}"...)
	}
	if len(j.Labels) > 0 {
		b = append(b, ","+jobNL1+`"labels": [`...)
		for i, l := range j.Labels {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, jobNL2...)
			b = e.appendString(b, l)
		}
		b = append(b, jobNL1+"]"...)
	}
	if j.Timeout != "" {
		b = append(b, ","+jobNL1+`"timeout": `...)
		b = e.appendString(b, j.Timeout)
	}
	b = append(b, ","+jobNL1+`"kill_grace": `...)
	b = e.appendString(b, j.KillGrace)
	b = append(b, ","+jobNL1+`"overlap": `...)
	b = e.appendString(b, j.Overlap)
	b = append(b, ","+jobNL1+`"catchup": `...)
	b = e.appendString(b, j.Catchup)
	b = append(b, ","+jobNL1+`"retries": `...)
	b = strconv.AppendInt(b, int64(j.Retries), 10)
	b = append(b, ","+jobNL1+`"retry_delay": `...)
	b = e.appendString(b, j.RetryDelay)
	if j.Jitter != "" {
		b = append(b, ","+jobNL1+`"jitter": `...)
		b = e.appendString(b, j.Jitter)
	}
	b = append(b, ","+jobNL1+`"paused": `...)
	b = strconv.AppendBool(b, j.Paused)
	b = append(b, ","+jobNL1+`"source": `...)
	b = e.appendString(b, j.Source)
	if j.Drifted {
		b = append(b, ","+jobNL1+`"drifted": true`...)
	}
	b = append(b, ","+jobNL1+`"created_at": `...)
	b = appendJSONTime(b, j.CreatedAt, &ok)
	b = append(b, ","+jobNL1+`"updated_at": `...)
	b = appendJSONTime(b, j.UpdatedAt, &ok)
	b = append(b, ","+jobNL1+`"next_run": `...)
	b = appendJSONTimePtr(b, j.NextRun, &ok)
	b = append(b, ","+jobNL1+`"last_run": `...)
	if r := j.LastRun; r == nil {
		b = append(b, "null"...)
	} else {
		b = append(b, "{"+jobNL2+`"id": `...)
		b = strconv.AppendInt(b, r.ID, 10)
		b = append(b, ","+jobNL2+`"state": `...)
		b = e.appendString(b, r.State)
		b = append(b, ","+jobNL2+`"scheduled_at": `...)
		b = appendJSONTime(b, r.ScheduledAt, &ok)
		b = append(b, ","+jobNL2+`"started_at": `...)
		b = appendJSONTimePtr(b, r.StartedAt, &ok)
		b = append(b, ","+jobNL2+`"finished_at": `...)
		b = appendJSONTimePtr(b, r.FinishedAt, &ok)
		b = append(b, ","+jobNL2+`"exit_code": `...)
		if r.ExitCode == nil {
			b = append(b, "null"...)
		} else {
			b = strconv.AppendInt(b, int64(*r.ExitCode), 10)
		}
		b = append(b, jobNL1+"}"...)
	}
	b = append(b, "\n    }"...)
	if !ok {
		// A time encoding/json refuses: let it say so, in its words.
		return e.slow(b[:start], j)
	}
	return b, nil
}

// slow appends v as encoding/json writes it.
func (e *jobEncoder) slow(b []byte, v any) ([]byte, error) {
	e.buf.Reset()
	if err := e.enc.Encode(v); err != nil {
		return b, err
	}
	return append(b, bytes.TrimSuffix(e.buf.Bytes(), []byte("\n"))...), nil
}

// appendString appends s as a JSON string. Most strings in a job are plain printable ASCII,
// which encoding/json copies as it is; anything else it escapes or replaces in ways (control
// characters, invalid UTF-8, U+2028) that are left to it.
func (e *jobEncoder) appendString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < ' ' || c >= utf8.RuneSelf || c == '"' || c == '\\' {
			b, err := e.slow(b, s)
			if err != nil {
				panic(fmt.Sprintf("encode string: %v", err)) // encoding/json never fails on a string
			}
			return b
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

func appendJSONTimePtr(b []byte, t *time.Time, ok *bool) []byte {
	if t == nil {
		return append(b, "null"...)
	}
	return appendJSONTime(b, *t, ok)
}

// appendJSONTime appends t as time.Time.MarshalJSON does, or sets *ok to false where
// MarshalJSON would fail; the checks are the ones it makes.
func appendJSONTime(b []byte, t time.Time, ok *bool) []byte {
	b = append(b, '"')
	n0 := len(b)
	b = t.AppendFormat(b, time.RFC3339Nano)
	switch {
	case b[n0+len("9999")] != '-': // the year is not four digits
		*ok = false
	case b[len(b)-1] != 'Z':
		c := b[len(b)-len("Z07:00")]
		h := 10*(b[len(b)-len("07:00")]-'0') + b[len(b)-len("7:00")] - '0'
		if '0' <= c && c <= '9' || h >= 24 { // the zone's hours are not two digits below 24
			*ok = false
		}
	}
	return append(b, '"')
}
