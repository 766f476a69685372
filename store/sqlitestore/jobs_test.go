package sqlitestore

import (
	"encoding/json"
	"reflect"
	"testing"
)

// decodeCommand cuts plain commands out itself and hands the rest to json.Unmarshal; either way
// its result must be what json.Unmarshal gives.
func TestDecodeCommand(t *testing.T) {
	for _, s := range commandSeeds {
		checkDecodeCommand(t, s)
	}
}

func FuzzDecodeCommand(f *testing.F) {
	for _, s := range commandSeeds {
		f.Add(s)
	}
	f.Fuzz(checkDecodeCommand)
}

var commandSeeds = []string{
	`["/bin/true"]`,
	`["backup","--to","/srv/backup"]`,
	`[""]`,
	`["",""]`,
	`[]`,
	`["a\",\"b"]`,    // an element holding "," is escaped: not the plain form
	`["a", "b"]`,     // spaces between elements
	`["a","b"] `,     // trailing space
	`["a\\b","c"]`,   // escaped backslash
	`["tab\there"]`,  // escape
	`["é","日本","🙂"]`, // valid UTF-8
	"[\"\xff\"]",     // invalid UTF-8: json.Unmarshal replaces it
	"[\"a\x01\"]",    // a raw control character: invalid JSON
	`["a","b"`,       // cut off
	`["a"]]`,
	`"a"`,
	`null`,
	`["a",1]`,
}

func checkDecodeCommand(t *testing.T, s string) {
	var want []string
	wantErr := json.Unmarshal([]byte(s), &want)
	got, err := decodeCommand(s)
	if (err != nil) != (wantErr != nil) {
		t.Fatalf("decodeCommand(%q) error %v, json.Unmarshal error %v", s, err, wantErr)
	}
	if err == nil && !reflect.DeepEqual(got, want) {
		t.Fatalf("decodeCommand(%q) = %q, json.Unmarshal gives %q", s, got, want)
	}
}
