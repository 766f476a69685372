package tomlhint

import "testing"

func TestDistance(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		a, b string
		want int
	}{
		{"schedule", "schedule", 0},
		{"scheduel", "schedule", 1}, // a swap is one edit
		{"shedule", "schedule", 1},
		{"timout", "timeout", 1},
		{"", "abc", 3},
		{"zone", "timezone", 4},
	} {
		if got := Distance(tt.a, tt.b); got != tt.want {
			t.Errorf("Distance(%q, %q) = %d, want %d", tt.a, tt.b, got, tt.want)
		}
	}
}
