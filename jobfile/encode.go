package jobfile

import (
	"bufio"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/arbiterd/arbiter/api"
)

// header opens every file Encode writes.
const header = `# Exported by arbiter. Each [jobs.NAME] table is one job; 'arbiter validate FILE' checks
# the file without a daemon. Secret values are never exported: env values "secret:NAME"
# refer to arbiter's secrets by name.
`

// Encode writes specs as a job file that Parse reads back to the same specs: one [jobs.NAME]
// table per spec, in the order given, with the keys in a fixed order and empty fields left
// out. Source is not written: a file's jobs take the file as their source.
func Encode(w io.Writer, specs []api.JobSpec) error {
	bw := bufio.NewWriter(w)
	bw.WriteString(header)
	for _, s := range specs {
		fmt.Fprintf(bw, "\n[jobs.%s]\n", key(s.Name))
		for _, k := range jobKeys {
			v := encodeValue(k, s)
			if v != "" {
				fmt.Fprintf(bw, "%s = %s\n", k, v)
			}
		}
	}
	return bw.Flush()
}

// encodeValue is the TOML of the spec's field k, or "" when the field is empty.
func encodeValue(k string, s api.JobSpec) string {
	str := func(v string) string {
		if v == "" {
			return ""
		}
		return quote(v)
	}
	strs := func(v []string) string {
		if len(v) == 0 {
			return ""
		}
		q := make([]string, len(v))
		for i, a := range v {
			q[i] = quote(a)
		}
		return "[" + strings.Join(q, ", ") + "]"
	}
	switch k {
	case "schedule":
		return str(s.Schedule)
	case "timezone":
		return str(s.Timezone)
	case "command":
		return strs(s.Command)
	case "shell":
		return str(s.Shell)
	case "dir":
		return str(s.Dir)
	case "env":
		if len(s.Env) == 0 {
			return ""
		}
		var kv []string
		for _, name := range slices.Sorted(maps.Keys(s.Env)) {
			kv = append(kv, key(name)+" = "+quote(s.Env[name]))
		}
		return "{ " + strings.Join(kv, ", ") + " }"
	case "labels":
		return strs(s.Labels)
	case "timeout":
		return str(s.Timeout)
	case "kill_grace":
		return str(s.KillGrace)
	case "overlap":
		return str(s.Overlap)
	case "catchup":
		return str(s.Catchup)
	case "retries":
		if s.Retries == 0 {
			return ""
		}
		return strconv.Itoa(s.Retries)
	case "retry_delay":
		return str(s.RetryDelay)
	case "jitter":
		return str(s.Jitter)
	case "paused":
		if !s.Paused {
			return ""
		}
		return "true"
	}
	return ""
}

// key writes a key bare when TOML allows it, else quoted.
func key(s string) string {
	if s == "" {
		return `""`
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return quote(s)
		}
	}
	return s
}

// quote writes s as a TOML string: a literal string ('...') when s needs no escapes but
// holds a '"' or '\' (shell strings read better that way), else a basic string.
func quote(s string) string {
	plain := true // no control characters, no invalid UTF-8
	for i, r := range s {
		if r < 0x20 || r == 0x7f || r == utf8.RuneError && !strings.HasPrefix(s[i:], "\uFFFD") {
			plain = false
			break
		}
	}
	if plain && strings.ContainsAny(s, `"\`) && !strings.Contains(s, "'") {
		return "'" + s + "'"
	}
	var b strings.Builder
	b.WriteByte('"')
	for i, r := range s {
		switch r {
		case '"':
			b.WriteString(`\"`)
		case '\\':
			b.WriteString(`\\`)
		case '\b':
			b.WriteString(`\b`)
		case '\t':
			b.WriteString(`\t`)
		case '\n':
			b.WriteString(`\n`)
		case '\f':
			b.WriteString(`\f`)
		case '\r':
			b.WriteString(`\r`)
		default:
			switch {
			case r == utf8.RuneError && !strings.HasPrefix(s[i:], "\uFFFD"):
				// TOML files are UTF-8; a stray byte cannot be written as it is.
				b.WriteString(`\uFFFD`)
			case r < 0x20 || r == 0x7f:
				fmt.Fprintf(&b, `\u%04X`, r)
			default:
				b.WriteRune(r)
			}
		}
	}
	b.WriteByte('"')
	return b.String()
}
