package config

import (
	"github.com/arbiterd/arbiter/internal/tomlhint"

	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/pelletier/go-toml/v2"
	"github.com/pelletier/go-toml/v2/unstable"
)

// fileValue is one setting as the file gives it.
type fileValue struct {
	key string
	src Source
	val value
}

// fileParser reads the config file strictly: it reports every unknown key, wrong type and
// misplaced table at its line and column, instead of ignoring what it does not know, so a
// misspelt setting does not silently leave its default in place.
type fileParser struct {
	file   string
	p      *unstable.Parser
	values []fileValue
	errs   []error
}

type keyPart struct {
	name string
	pos  Source // Line and Col
}

// parseFile parses the config file data, adding its errors to errs.
func parseFile(file string, data []byte, errs *[]error) []fileValue {
	// The decoder checks the syntax, duplicate keys and redefined tables, with positions;
	// the walk below can then trust the document's structure.
	var doc map[string]any
	if err := toml.Unmarshal(data, &doc); err != nil {
		*errs = append(*errs, decodeError(file, err))
		return nil
	}
	fp := &fileParser{file: file, p: &unstable.Parser{}}
	fp.p.Reset(data)
	var table []keyPart // the current [header]; nil at the top
	skip := false       // the current table was reported: its contents would only add noise
	for fp.p.NextExpression() {
		expr := fp.p.Expression()
		switch expr.Kind {
		case unstable.Table, unstable.ArrayTable:
			table = fp.keyParts(expr.Key())
			skip = !fp.header(table, expr.Kind == unstable.ArrayTable)
		case unstable.KeyValue:
			if !skip {
				fp.keyValue(table, expr)
			}
		}
	}
	if err := fp.p.Error(); err != nil { // the decoder accepted the document: not expected
		fp.errs = append(fp.errs, &Error{Source: Source{Origin: FromFile, Name: file, Line: 1, Col: 1},
			Msg: fmt.Sprintf("%s:1:1: %v", file, err), Err: err})
	}
	*errs = append(*errs, fp.errs...)
	return fp.values
}

func decodeError(file string, err error) error {
	src := Source{Origin: FromFile, Name: file, Line: 1, Col: 1}
	msg := err.Error()
	var de *toml.DecodeError
	var pe *unstable.ParserError
	switch {
	case errors.As(err, &de):
		src.Line, src.Col = de.Position()
		msg = strings.TrimPrefix(de.Error(), "toml: ")
	case errors.As(err, &pe):
		msg = pe.Message
	}
	return &Error{Source: src, Msg: fmt.Sprintf("%s:%d:%d: %s", file, src.Line, src.Col, msg), Err: err}
}

func (fp *fileParser) pos(offset uint32) Source {
	s := fp.p.Shape(unstable.Range{Offset: offset})
	return Source{Origin: FromFile, Name: fp.file, Line: s.Start.Line, Col: s.Start.Column}
}

func (fp *fileParser) errorf(at Source, key, format string, args ...any) {
	fp.errs = append(fp.errs, &Error{Source: at, Key: key,
		Msg: fmt.Sprintf("%s:%d:%d: ", at.Name, at.Line, at.Col) + fmt.Sprintf(format, args...)})
}

// unknown reports a key that is not one of known, with the one the user probably meant.
func (fp *fileParser) unknown(k keyPart, known []string) {
	if s := suggest(k.name, known); s != "" {
		fp.errorf(k.pos, k.name, "unknown key %q (did you mean %q?)", k.name, s)
		return
	}
	fp.errorf(k.pos, k.name, "unknown key %q; the keys are %s", k.name, strings.Join(known, ", "))
}

func (fp *fileParser) keyParts(it unstable.Iterator) []keyPart {
	var parts []keyPart
	for it.Next() {
		k := it.Node()
		parts = append(parts, keyPart{name: string(k.Data), pos: fp.pos(k.Raw.Offset)})
	}
	return parts
}

// header checks a [table] header; false when its contents are to be skipped.
func (fp *fileParser) header(parts []keyPart, array bool) bool {
	switch {
	case parts[0].name != "daemon":
		fp.topLevel(parts[0])
	case len(parts) > 1:
		fp.nested(parts[1])
	case array:
		fp.errorf(parts[0].pos, "daemon", "daemon: use one [daemon] table, not [[daemon]]")
	default:
		return true
	}
	return false
}

// topLevel reports a key outside [daemon].
func (fp *fileParser) topLevel(k keyPart) {
	switch {
	case slices.Contains(Keys, k.name):
		fp.errorf(k.pos, k.name, "%s: put the settings in the [daemon] table", k.name)
	case suggest(k.name, []string{"daemon"}) != "":
		fp.unknown(k, []string{"daemon"})
	default:
		fp.errorf(k.pos, k.name, "unknown key %q; the settings go in the [daemon] table", k.name)
	}
}

// nested reports a table inside [daemon], where every setting is a plain value.
func (fp *fileParser) nested(k keyPart) {
	if slices.Contains(Keys, k.name) {
		fp.errorf(k.pos, k.name, "%s: expected %s, got a table", k.name, expected(k.name))
		return
	}
	fp.unknown(k, Keys)
}

// keyValue handles `a.b = value` in the table whose header is table.
func (fp *fileParser) keyValue(table []keyPart, kv *unstable.Node) {
	it := kv.Key()
	var last *unstable.Node
	parts := slices.Clone(table)
	for it.Next() {
		last = it.Node()
		parts = append(parts, keyPart{name: string(last.Data), pos: fp.pos(last.Raw.Offset)})
	}
	fp.assign(parts, kv.Value(), fp.valueStart(last))
}

// assign places value, found at at, under the full key path parts.
func (fp *fileParser) assign(parts []keyPart, v *unstable.Node, at Source) {
	switch {
	case parts[0].name != "daemon":
		fp.topLevel(parts[0])
	case len(parts) > 2:
		fp.nested(parts[1])
	case len(parts) == 1: // daemon = { ... }
		if v.Kind != unstable.InlineTable {
			fp.errorf(at, "daemon", "daemon: expected a table of settings, got %s", tomlhint.Kind(v.Kind))
			return
		}
		children := v.Children()
		for children.Next() {
			if c := children.Node(); c.Kind == unstable.KeyValue {
				fp.keyValue(parts, c)
			}
		}
	default:
		k := parts[1]
		if !slices.Contains(Keys, k.name) {
			fp.unknown(k, Keys)
			return
		}
		val := value{kind: tomlhint.Kind(v.Kind), str: string(v.Data)}
		if v.Kind == unstable.Integer {
			n, err := strconv.ParseInt(val.str, 0, 64)
			if err != nil {
				fp.errorf(at, k.name, "%s: %s is out of range", k.name, val.str)
				return
			}
			val.num = n
		}
		// Types are checked with the other rules, in Resolved.set.
		fp.values = append(fp.values, fileValue{key: k.name, src: at, val: val})
	}
}

// expected describes the type of a key's value.
func expected(key string) string {
	switch key {
	case KeyMaxRunning, KeyOutputCap:
		return "an integer"
	case KeyShutdownGrace:
		return `a duration string such as "30s" or "1m30s"`
	}
	return "a string"
}

// valueStart finds where the value of a key/value starts: after the key, '=' and blanks.
// Arrays and tables carry no range of their own in the parser's tree.
func (fp *fileParser) valueStart(lastKey *unstable.Node) Source {
	data := fp.p.Data()
	i := int(lastKey.Raw.Offset + lastKey.Raw.Length)
	for i < len(data) && (data[i] == ' ' || data[i] == '\t' || data[i] == '=') {
		i++
	}
	return fp.pos(uint32(i))
}
