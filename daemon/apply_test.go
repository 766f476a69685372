package daemon

import (
	"reflect"
	"testing"

	"github.com/arbiterd/arbiter"
	"github.com/arbiterd/arbiter/api"
)

func TestJobChangesLabels(t *testing.T) {
	t.Parallel()
	job := func(labels ...string) arbiter.Job {
		j := arbiter.Job{Name: "train", Schedule: "@daily", Command: []string{"train"}, Labels: labels}
		j.Normalize()
		return j
	}
	tests := []struct {
		name      string
		cur, want arbiter.Job
		changes   []api.FieldChange
	}{
		{"same", job("gpu", "eu"), job("eu", "gpu"), nil},
		{"same, given twice", job("gpu"), job("gpu", "gpu"), nil},
		{"none", job(), job(), nil},
		{"added", job(), job("gpu"), []api.FieldChange{{Field: "labels", From: "", To: "gpu"}}},
		{"removed", job("eu", "gpu"), job(), []api.FieldChange{{Field: "labels", From: "eu, gpu", To: ""}}},
		{"changed", job("eu", "gpu"), job("gpu", "us"), []api.FieldChange{{Field: "labels", From: "eu, gpu", To: "gpu, us"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := jobChanges(tt.cur, tt.want); !reflect.DeepEqual(got, tt.changes) {
				t.Errorf("jobChanges = %+v, want %+v", got, tt.changes)
			}
		})
	}
}
