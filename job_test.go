package arbiter_test

import (
	"strings"
	"testing"

	"github.com/arbiterd/arbiter"
)

func TestNameFrom(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ in, want string }{
		{"backup.sh", "backup-sh"},
		{"pg_dump", "pg-dump"},
		{"  Weird  NAME!! ", "weird-name"},
		{"run-parts", "run-parts"},
		{"---", ""},
		{"日本", ""},
		{strings.Repeat("a", 70), strings.Repeat("a", 63)},
	} {
		got := arbiter.NameFrom(tt.in)
		if got != tt.want {
			t.Errorf("NameFrom(%q) = %q, want %q", tt.in, got, tt.want)
		}
		if got != "" && arbiter.ValidateName(got) != nil {
			t.Errorf("NameFrom(%q) = %q is not a valid name", tt.in, got)
		}
	}
}
