package storetest

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/arbiterd/arbiter"
	"github.com/arbiterd/arbiter/store"
)

// The suite never encrypts: a store keeps nonces and ciphertexts as opaque bytes. sealed builds
// bytes that look like the real thing (a 12-byte nonce, a ciphertext with a 16-byte tag) and
// differ per name, key and value.
func sealed(name, keyID, value string) arbiter.Secret {
	nonce := []byte(fmt.Sprintf("n%-11.11s", keyID+name))
	ct := append([]byte("ct:"+keyID+":"+name+":"+value+":"), "\x00\xff\x80tag-sixteen-byte"...)
	return arbiter.Secret{Name: name, KeyID: keyID, Nonce: nonce, Ciphertext: ct, Size: len(value)}
}

func putSecret(t *testing.T, s store.Store, sec arbiter.Secret, minutes int) (created bool) {
	t.Helper()
	created, err := s.PutSecret(t.Context(), store.SecretPutParams{Secret: sec, Now: at(minutes), Actor: "uid:1000"})
	if err != nil {
		t.Fatalf("PutSecret(%q): %v", sec.Name, err)
	}
	return created
}

func getSecret(t *testing.T, s store.Store, name string) arbiter.Secret {
	t.Helper()
	sec, err := s.GetSecret(t.Context(), name)
	if err != nil {
		t.Fatalf("GetSecret(%q): %v", name, err)
	}
	return sec
}

func listSecrets(t *testing.T, s store.Store) []arbiter.Secret {
	t.Helper()
	secrets, err := s.ListSecrets(t.Context())
	if err != nil {
		t.Fatalf("ListSecrets: %v", err)
	}
	return secrets
}

// wantSecret compares everything, bytes exactly (a nil and an empty slice differ in DeepEqual,
// and neither is a valid nonce or ciphertext anyway).
func wantSecret(t *testing.T, what string, got, want arbiter.Secret) {
	t.Helper()
	wantEqual(t, what, got, want)
}

func testSecretRoundTrip(t *testing.T, s store.Store) {
	every := make([]byte, 0, 256*4) // every byte value, NULs and invalid UTF-8 included
	for i := range 256 * 4 {
		every = append(every, byte(i))
	}
	big := bytes.Repeat([]byte{0, 0xff, 'x', 0x80}, 64<<10) // 256 KiB
	tests := []struct {
		name   string
		secret arbiter.Secret
	}{
		{"typical", sealed("api-token", "1a2b3c4d5e6f7a8b", "s3cr3t")},
		{"every byte", arbiter.Secret{Name: "every.byte", KeyID: "k1", Nonce: []byte{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0},
			Ciphertext: every, Size: 1008}},
		{"nul nonce and tag", arbiter.Secret{Name: "nul_nonce", KeyID: "k1", Nonce: bytes.Repeat([]byte{0}, 12),
			Ciphertext: bytes.Repeat([]byte{0}, 16), Size: 0}},
		{"large", arbiter.Secret{Name: "large", KeyID: "k1", Nonce: bytes.Repeat([]byte{0xff}, 12), Ciphertext: big,
			Size: len(big) - 16}},
		{"longest name", sealed("a"+strings.Repeat("b", 62), "k1", "v")},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := tt.secret
			in.CreatedAt, in.UpdatedAt = at(-60), at(-60) // the store's clock (Now) wins
			if !putSecret(t, s, in, i) {
				t.Errorf("PutSecret of a new secret reported an update")
			}
			want := tt.secret
			want.CreatedAt, want.UpdatedAt = at(i), at(i)
			wantSecret(t, "GetSecret", getSecret(t, s, want.Name), want)
		})
	}
	// The caller's slices are not kept: changing them after the put changes nothing stored.
	sec := sealed("aliasing", "k1", "v")
	putSecret(t, s, sec, 0)
	want := sealed("aliasing", "k1", "v")
	want.CreatedAt, want.UpdatedAt = at(0), at(0)
	sec.Nonce[0], sec.Ciphertext[0] = '!', '!'
	wantSecret(t, "GetSecret after the caller reused its slices", getSecret(t, s, "aliasing"), want)
}

func testSecretUpsert(t *testing.T, s store.Store) {
	first := sealed("db-password", "k1", "old value")
	if !putSecret(t, s, first, 1) {
		t.Error("first PutSecret: created = false, want true")
	}
	second := sealed("db-password", "k2", "a longer new value")
	if putSecret(t, s, second, 2) {
		t.Error("second PutSecret: created = true, want false")
	}
	want := second
	want.CreatedAt, want.UpdatedAt = at(1), at(2) // created once, updated since
	wantSecret(t, "GetSecret after the update", getSecret(t, s, "db-password"), want)
	if n := len(listSecrets(t, s)); n != 1 {
		t.Errorf("ListSecrets after an upsert = %d secrets, want 1", n)
	}
}

func testSecretNotFound(t *testing.T, s store.Store) {
	ctx := t.Context()
	putSecret(t, s, sealed("other", "k1", "v"), 0)
	before := allEvents(t, s)
	_, err := s.GetSecret(ctx, "nope")
	wantErr(t, "GetSecret", err, arbiter.ErrNotFound)
	err = s.DeleteSecret(ctx, store.SecretDeleteParams{Name: "nope", Now: at(1), Actor: "uid:1000"})
	wantErr(t, "DeleteSecret", err, arbiter.ErrNotFound)
	wantEqual(t, "events after failed operations", allEvents(t, s), before)
}

func testSecretInvalid(t *testing.T, s store.Store) {
	ctx := t.Context()
	putSecret(t, s, sealed("kept", "k1", "v"), 0)
	before := allEvents(t, s)
	edit := func(f func(*arbiter.Secret)) arbiter.Secret {
		sec := sealed("valid", "k1", "v")
		f(&sec)
		return sec
	}
	tests := []struct {
		name   string
		secret arbiter.Secret
	}{
		{"empty name", edit(func(sec *arbiter.Secret) { sec.Name = "" })},
		{"upper case", edit(func(sec *arbiter.Secret) { sec.Name = "API_TOKEN" })},
		{"slash", edit(func(sec *arbiter.Secret) { sec.Name = "a/b" })},
		{"NUL", edit(func(sec *arbiter.Secret) { sec.Name = "a\x00b" })},
		{"too long", edit(func(sec *arbiter.Secret) { sec.Name = strings.Repeat("a", 64) })},
		{"no key id", edit(func(sec *arbiter.Secret) { sec.KeyID = "" })},
		{"nil nonce", edit(func(sec *arbiter.Secret) { sec.Nonce = nil })},
		{"empty ciphertext", edit(func(sec *arbiter.Secret) { sec.Ciphertext = []byte{} })},
		{"negative size", edit(func(sec *arbiter.Secret) { sec.Size = -1 })},
	}
	for _, tt := range tests {
		_, err := s.PutSecret(ctx, store.SecretPutParams{Secret: tt.secret, Now: at(1)})
		wantErr(t, "PutSecret "+tt.name, err, arbiter.ErrInvalid)
	}
	for _, name := range []string{"", "API_TOKEN", "a/b", "../etc"} {
		_, err := s.GetSecret(ctx, name)
		wantErr(t, fmt.Sprintf("GetSecret(%q)", name), err, arbiter.ErrInvalid)
		err = s.DeleteSecret(ctx, store.SecretDeleteParams{Name: name, Now: at(1)})
		wantErr(t, fmt.Sprintf("DeleteSecret(%q)", name), err, arbiter.ErrInvalid)
	}
	if got := listSecrets(t, s); len(got) != 1 || got[0].Name != "kept" {
		t.Errorf("secrets after invalid puts = %+v, want only kept", got)
	}
	wantEqual(t, "events after invalid operations", allEvents(t, s), before)
}

func testListSecrets(t *testing.T, s store.Store) {
	if got := listSecrets(t, s); len(got) != 0 {
		t.Fatalf("ListSecrets of an empty store = %+v", got)
	}
	// Put out of order. The names sort alike in every collation worth having ('.', '-' and '_'
	// sort differently in some), so a store may use its database's ORDER BY.
	minute := map[string]int{"zeta": 0, "api": 1, "m2": 2, "m10": 3, "db": 4}
	for _, n := range []string{"zeta", "api", "m2", "m10", "db"} {
		putSecret(t, s, sealed(n, "k1", "value of "+n), minute[n])
	}
	var want []arbiter.Secret
	for _, n := range []string{"api", "db", "m10", "m2", "zeta"} {
		sec := sealed(n, "k1", "value of "+n)
		sec.CreatedAt, sec.UpdatedAt = at(minute[n]), at(minute[n])
		want = append(want, sec)
	}
	wantEqual(t, "ListSecrets", listSecrets(t, s), want)
}

func testDeleteSecret(t *testing.T, s store.Store) {
	ctx := t.Context()
	putSecret(t, s, sealed("a", "k1", "1"), 0)
	putSecret(t, s, sealed("b", "k1", "2"), 0)
	if err := s.DeleteSecret(ctx, store.SecretDeleteParams{Name: "a", Now: at(1), Actor: "uid:1000"}); err != nil {
		t.Fatal(err)
	}
	_, err := s.GetSecret(ctx, "a")
	wantErr(t, "GetSecret of a deleted secret", err, arbiter.ErrNotFound)
	if got := listSecrets(t, s); len(got) != 1 || got[0].Name != "b" {
		t.Errorf("ListSecrets after deleting a = %+v, want only b", got)
	}
	err = s.DeleteSecret(ctx, store.SecretDeleteParams{Name: "a", Now: at(2)})
	wantErr(t, "DeleteSecret twice", err, arbiter.ErrNotFound)
	// The name is free again, and the secret new: a fresh CreatedAt.
	if !putSecret(t, s, sealed("a", "k1", "3"), 3) {
		t.Error("PutSecret after delete: created = false, want true")
	}
	if got := getSecret(t, s, "a"); !got.CreatedAt.Equal(at(3)) {
		t.Errorf("re-created secret has CreatedAt %s, want %s", got.CreatedAt, at(3))
	}
}

// rotated re-seals the listed secrets under key, as a rotation does: a copy of each with a new
// key id, nonce and ciphertext, its times kept (ReplaceSecrets checks that a given UpdatedAt is
// still the stored one).
func rotated(secrets []arbiter.Secret, key string) []arbiter.Secret {
	out := make([]arbiter.Secret, 0, len(secrets))
	for _, sec := range secrets {
		n := sealed(sec.Name, key, "same value")
		sec.KeyID, sec.Nonce, sec.Ciphertext = n.KeyID, n.Nonce, n.Ciphertext
		out = append(out, sec)
	}
	return out
}

func testReplaceSecrets(t *testing.T, s store.Store) {
	ctx := t.Context()
	for i, n := range []string{"a", "b", "c"} {
		putSecret(t, s, sealed(n, "oldkey", "v"+n), i)
	}
	putSecret(t, s, sealed("b", "oldkey", "updated"), 5) // b: UpdatedAt at(5)
	before := listSecrets(t, s)

	next := rotated(before, "newkey")
	next[0], next[2] = next[2], next[0] // any order
	if err := s.ReplaceSecrets(ctx, store.SecretReplaceParams{Secrets: next, Now: at(10), Actor: "uid:0"}); err != nil {
		t.Fatal(err)
	}
	after := listSecrets(t, s)
	if len(after) != len(before) {
		t.Fatalf("ReplaceSecrets left %d secrets, want %d", len(after), len(before))
	}
	for i, got := range after {
		// A rotation changes no value: the times and size stay.
		wantSecret(t, "secret after ReplaceSecrets", got, rotated(before[i:i+1], "newkey")[0])
	}

	events := allEvents(t, s)
	last := events[len(events)-1]
	if last.Kind != "secret.rotated" || last.Job != "" || last.RunID != 0 || last.Actor != "uid:0" || !last.At.Equal(at(10)) {
		t.Errorf("rotation event = %+v, want secret.rotated by uid:0 at %s with no job or run", last, at(10))
	}
	if !strings.Contains(last.Detail, "3") || !strings.Contains(last.Detail, "newkey") {
		t.Errorf("rotation event detail %q does not give the count 3 and the key newkey", last.Detail)
	}
	if n := len(events); n != 5 { // 3 created, 1 updated, 1 rotated
		t.Errorf("%d events, want 5: %+v", n, events)
	}
}

// testReplaceSecretsAllOrNothing: a rotation whose set differs from the stored one changes no
// secret and records nothing, whatever the difference and wherever it sits in the list.
func testReplaceSecretsAllOrNothing(t *testing.T, s store.Store) {
	ctx := t.Context()
	for i, n := range []string{"a", "b", "c"} {
		putSecret(t, s, sealed(n, "oldkey", "v"+n), i)
	}
	before := listSecrets(t, s)
	beforeEvents := allEvents(t, s)
	full := rotated(before, "newkey")

	tests := []struct {
		name    string
		secrets []arbiter.Secret
		target  error
	}{
		{"missing last", full[:2], arbiter.ErrConflict},
		{"missing first", full[1:], arbiter.ErrConflict},
		{"none", nil, arbiter.ErrConflict},
		{"extra", append(append([]arbiter.Secret{}, full...), sealed("d", "newkey", "v")), arbiter.ErrConflict},
		{"extra first", append([]arbiter.Secret{sealed("0", "newkey", "v")}, full...), arbiter.ErrConflict},
		{"one swapped for another", append(append([]arbiter.Secret{}, full[:2]...), sealed("d", "newkey", "v")), arbiter.ErrConflict},
		{"duplicate", append(append([]arbiter.Secret{}, full...), full[0]), arbiter.ErrInvalid},
		{"two keys", append(append([]arbiter.Secret{}, full[:2]...), sealed("c", "otherkey", "v")), arbiter.ErrInvalid},
		{"changed since read", func() []arbiter.Secret {
			stale := rotated(before, "newkey")
			stale[1].UpdatedAt = stale[1].UpdatedAt.Add(-time.Nanosecond) // b was put again after the read
			return stale
		}(), arbiter.ErrConflict},
		{"invalid last", append(append([]arbiter.Secret{}, full[:2]...), arbiter.Secret{Name: "c", KeyID: "newkey"}), arbiter.ErrInvalid},
	}
	for _, tt := range tests {
		err := s.ReplaceSecrets(ctx, store.SecretReplaceParams{Secrets: tt.secrets, Now: at(10), Actor: "uid:0"})
		wantErr(t, "ReplaceSecrets "+tt.name, err, tt.target)
		wantEqual(t, "secrets after ReplaceSecrets "+tt.name, listSecrets(t, s), before)
		wantEqual(t, "events after ReplaceSecrets "+tt.name, allEvents(t, s), beforeEvents)
	}
}

// testReplaceSecretsWithoutTimes: a caller that builds fresh Secrets (no UpdatedAt) is checked
// on names only.
func testReplaceSecretsWithoutTimes(t *testing.T, s store.Store) {
	putSecret(t, s, sealed("a", "oldkey", "va"), 0)
	putSecret(t, s, sealed("a", "oldkey", "va2"), 1)
	next := sealed("a", "newkey", "va2")
	if err := s.ReplaceSecrets(t.Context(), store.SecretReplaceParams{Secrets: []arbiter.Secret{next}, Now: at(2)}); err != nil {
		t.Fatal(err)
	}
	want := next
	want.CreatedAt, want.UpdatedAt = at(0), at(1)
	wantSecret(t, "secret after ReplaceSecrets", getSecret(t, s, "a"), want)
}

func testReplaceSecretsEmpty(t *testing.T, s store.Store) {
	if err := s.ReplaceSecrets(t.Context(), store.SecretReplaceParams{Now: at(1)}); err != nil {
		t.Errorf("ReplaceSecrets of no secrets in an empty store: %v", err)
	}
	if got := listSecrets(t, s); len(got) != 0 {
		t.Errorf("ReplaceSecrets of nothing created secrets: %+v", got)
	}
}

// testSecretEvents: every change is logged with the name as its only detail, never a value or
// any of the bytes that stand for it.
func testSecretEvents(t *testing.T, s store.Store) {
	ctx := t.Context()
	const value = "hunter2-plaintext"
	first := sealed("api-token", "k1", value)
	second := sealed("api-token", "k1", value+"-2")
	putSecret(t, s, first, 1)
	if _, err := s.PutSecret(ctx, store.SecretPutParams{Secret: second, Now: at(2)}); err != nil { // no actor
		t.Fatal(err)
	}
	next := sealed("api-token", "k2", value)
	if err := s.ReplaceSecrets(ctx, store.SecretReplaceParams{Secrets: []arbiter.Secret{next}, Now: at(3), Actor: "uid:0"}); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteSecret(ctx, store.SecretDeleteParams{Name: "api-token", Now: at(4), Actor: "uid:1001"}); err != nil {
		t.Fatal(err)
	}

	type ev struct{ Kind, Job, Actor, Detail string }
	var got []ev
	events := allEvents(t, s)
	for i, e := range events {
		got = append(got, ev{e.Kind, e.Job, e.Actor, e.Detail})
		if e.RunID != 0 || !e.At.Equal(at(i+1)) {
			t.Errorf("event %d (%s): run %d at %s; want no run, at %s", i, e.Kind, e.RunID, e.At, at(i+1))
		}
	}
	if len(got) != 4 {
		t.Fatalf("events = %+v, want 4", got)
	}
	rotation := got[2].Detail
	wantEqual(t, "secret events", got, []ev{
		{"secret.created", "", "uid:1000", "api-token"},
		{"secret.updated", "", "daemon", "api-token"},
		{"secret.rotated", "", "uid:0", rotation},
		{"secret.deleted", "", "uid:1001", "api-token"},
	})

	var forbidden []string
	for _, sec := range []arbiter.Secret{first, second, next} {
		for _, b := range [][]byte{sec.Nonce, sec.Ciphertext} {
			forbidden = append(forbidden, string(b), hex.EncodeToString(b), base64.StdEncoding.EncodeToString(b))
		}
	}
	forbidden = append(forbidden, value)
	for _, e := range events {
		text := fmt.Sprintf("%+v", e)
		for _, f := range forbidden {
			if strings.Contains(text, f) {
				t.Errorf("event %s holds secret material %q: %s", e.Kind, f, text)
			}
		}
	}
}

func testAppendEvent(t *testing.T, s store.Store) {
	ctx := t.Context()
	createJob(t, s, newJob("backup"))
	run := insertFire(t, s, "backup", at(1))
	given := []arbiter.Event{
		{At: at(2), Kind: "secret.read", Job: "backup", RunID: run.ID, Actor: "uid:1000", Detail: "api-token"},
		{At: at(3), Kind: "secret.read", Job: "backup", RunID: run.ID, Detail: "db"}, // actor defaults
		{At: at(4).Add(7), Kind: "custom.kind", Detail: "ünïcødé ✓ detail"},          // no job, no run
		{ID: 999999, At: at(5), Kind: "secret.read", Job: "gone", Actor: "uid:0"},    // the log assigns ids
	}
	for _, e := range given {
		if err := s.AppendEvent(ctx, e); err != nil {
			t.Fatalf("AppendEvent(%+v): %v", e, err)
		}
	}
	err := s.AppendEvent(ctx, arbiter.Event{At: at(6), Job: "backup"})
	wantErr(t, "AppendEvent without a kind", err, arbiter.ErrInvalid)

	all := allEvents(t, s)
	if len(all) != 2+len(given) { // job.created, run.queued, then ours
		t.Fatalf("%d events, want %d: %+v", len(all), 2+len(given), all)
	}
	got := all[2:]
	for i, e := range got {
		want := given[i]
		want.ID = e.ID
		if want.Actor == "" {
			want.Actor = "daemon"
		}
		wantEqual(t, fmt.Sprintf("event %d", i), e, want)
		if e.ID <= all[i+1].ID {
			t.Errorf("event ids %d, %d do not grow", all[i+1].ID, e.ID)
		}
	}
	if got[3].ID == 999999 {
		t.Error("AppendEvent kept the caller's ID")
	}
	byJob, err := s.ListEvents(ctx, store.EventListParams{Job: "backup", AfterID: all[1].ID})
	if err != nil {
		t.Fatal(err)
	}
	wantEqual(t, "appended events of backup", byJob, got[:2])
}
