package shellrunner

import (
	"encoding/binary"
	"strings"
	"testing"
)

// procargs builds a kern.procargs2 buffer: argc, path, padding, argv, env, the end of the
// environment, and Apple's strings after it.
func procargs(path string, argv, env []string) []byte {
	b := binary.LittleEndian.AppendUint32(nil, uint32(len(argv)))
	b = append(b, path...)
	b = append(b, 0, 0, 0, 0) // the path's NUL and the padding
	for _, s := range append(append([]string{}, argv...), env...) {
		b = append(b, s...)
		b = append(b, 0)
	}
	b = append(b, 0)
	return append(b, "ptr_munge=\x00main_stack=\x00"...)
}

func TestProcargsHasEnv(t *testing.T) {
	const kv = "ARBITER_RUN_MARKER=node.42"
	tests := []struct {
		name string
		buf  []byte
		want bool
	}{
		{"in the environment", procargs("/bin/sh", []string{"sh", "-c", "sleep 9"}, []string{"HOME=/", kv}), true},
		{"first entry", procargs("/bin/sleep", []string{"sleep", "9"}, []string{kv}), true},
		{"absent", procargs("/bin/sh", []string{"sh"}, []string{"HOME=/", "ARBITER_RUN_MARKER=node.4"}), false},
		{"only a prefix", procargs("/bin/sh", []string{"sh"}, []string{kv + "2"}), false},
		// An argument that looks like the entry is not the environment.
		{"in argv", procargs("/usr/bin/env", []string{"env", kv, "true"}, []string{"HOME=/"}), false},
		{"no arguments", procargs("/bin/sh", nil, []string{kv}), true},
		{"empty environment", procargs("/bin/sh", []string{"sh"}, nil), false},
		{"after the environment's end", append(procargs("/bin/sh", []string{"sh"}, nil), kv+"\x00"...), false},
		{"truncated argv", procargs("/bin/sh", []string{"sh"}, nil)[:12], false},
		{"too short", []byte{1, 0}, false},
		{"empty", nil, false},
	}
	for _, tt := range tests {
		if got := procargsHasEnv(tt.buf, []byte(kv)); got != tt.want {
			t.Errorf("%s: procargsHasEnv = %v, want %v (buffer %q)", tt.name, got, tt.want, strings.ReplaceAll(string(tt.buf), "\x00", "|"))
		}
	}
}
