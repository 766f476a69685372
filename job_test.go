package arbiter_test

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
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

func TestJobLabels(t *testing.T) {
	t.Parallel()
	many := func(n int) []string {
		out := make([]string, n)
		for i := range out {
			out[i] = fmt.Sprintf("l%02d", i)
		}
		return out
	}
	tests := []struct {
		name    string
		labels  []string
		want    []string // after Normalize
		wantErr string
	}{
		{name: "none", labels: nil, want: nil},
		{name: "empty is none", labels: []string{}, want: nil},
		{name: "one", labels: []string{"gpu"}, want: []string{"gpu"}},
		{name: "sorted", labels: []string{"gpu", "eu", "a.b_c-9"}, want: []string{"a.b_c-9", "eu", "gpu"}},
		{name: "duplicates dropped", labels: []string{"gpu", "eu", "gpu", "eu"}, want: []string{"eu", "gpu"}},
		{name: "longest", labels: []string{strings.Repeat("x", 63)}, want: []string{strings.Repeat("x", 63)}},
		{name: "sixteen", labels: many(16), want: many(16)},
		{name: "sixteen with repeats", labels: append(many(16), many(16)...), want: many(16)},
		{name: "seventeen", labels: many(17), wantErr: "labels: 17 labels; a job may require at most 16"},
		{name: "upper case", labels: []string{"eu", "GPU"},
			wantErr: `labels: "GPU" is not a valid label: use 1-63 characters of a-z, 0-9, '.', '_' and '-', starting with a letter or digit`},
		{name: "empty label", labels: []string{""},
			wantErr: `labels: "" is not a valid label: use 1-63 characters of a-z, 0-9, '.', '_' and '-', starting with a letter or digit`},
		{name: "key=value", labels: []string{"region=eu"},
			wantErr: `labels: "region=eu" is not a valid label: use 1-63 characters of a-z, 0-9, '.', '_' and '-', starting with a letter or digit`},
		{name: "leading dash", labels: []string{"-gpu"},
			wantErr: `labels: "-gpu" is not a valid label: use 1-63 characters of a-z, 0-9, '.', '_' and '-', starting with a letter or digit`},
		{name: "too long", labels: []string{strings.Repeat("x", 64)},
			wantErr: `labels: "` + strings.Repeat("x", 64) + `" is not a valid label: use 1-63 characters of a-z, 0-9, '.', '_' and '-', starting with a letter or digit`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			given := slices.Clone(tt.labels)
			j := arbiter.Job{Name: "a", Schedule: "@daily", Command: []string{"true"}, Labels: given}
			// The CLI validates before the daemon normalizes: the verdict is the same.
			before := j.Validate()
			j.Normalize()
			err := j.Validate()
			if fmt.Sprint(before) != fmt.Sprint(err) {
				t.Errorf("Validate before Normalize = %v, after = %v", before, err)
			}
			if tt.wantErr != "" {
				var ie *arbiter.InvalidError
				if err == nil || err.Error() != tt.wantErr || !errors.As(err, &ie) || ie.Field != "labels" {
					t.Fatalf("Validate = %v, want %q from field labels", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Validate = %v", err)
			}
			if !reflect.DeepEqual(j.Labels, tt.want) {
				t.Errorf("Labels after Normalize = %#v, want %#v", j.Labels, tt.want)
			}
			if !slices.Equal(given, tt.labels) {
				t.Errorf("Normalize changed the caller's slice: %q, was %q", given, tt.labels)
			}
		})
	}
}
