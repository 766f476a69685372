package jobfile

import (
	"slices"

	"github.com/pelletier/go-toml/v2/unstable"
)

// Pos is a place in a job file: 1-based line and byte column.
type Pos struct {
	Line, Col int
}

// node is one value of the document with the positions of its key and of the value itself.
// The go-toml decoder has already checked the document (syntax, duplicate keys, redefined
// tables) before the tree is built, so the walk trusts its structure.
type node struct {
	kind   unstable.Kind // Table for [headers] and implicit tables; InlineTable; Array; scalars
	keyPos Pos           // the key that names it (the last part of a dotted key)
	pos    Pos           // the value; for tables, the key of their header
	data   string        // a scalar: the decoded string, or the raw text of other kinds
	elems  []*node       // an Array
	keys   []string      // a table's keys, in document order
	kids   map[string]*node
}

func newTable(kind unstable.Kind, at Pos) *node {
	return &node{kind: kind, keyPos: at, pos: at, kids: map[string]*node{}}
}

func (n *node) isTable() bool { return n.kind == unstable.Table || n.kind == unstable.InlineTable }

// child returns the table under key, creating an implicit one at pos. A key that holds
// something other than a table yields a detached table: the decoder has refused such
// documents already, so this only keeps the walk total.
func (n *node) child(key string, at Pos) *node {
	if c, ok := n.kids[key]; ok {
		if c.isTable() {
			return c
		}
		return newTable(unstable.Table, at)
	}
	c := newTable(unstable.Table, at)
	n.set(key, c)
	return c
}

func (n *node) set(key string, c *node) {
	if _, ok := n.kids[key]; !ok {
		n.keys = append(n.keys, key)
	}
	n.kids[key] = c
}

// builder turns the parser's expressions into a tree of nodes.
type builder struct {
	p *unstable.Parser
	// lineStarts holds the offset of each line's first byte. The parser's own Shape counts
	// lines from the start of the document on every call, which made a file of 10,000 jobs
	// take half a minute to read.
	lineStarts []int
}

func newBuilder(p *unstable.Parser, data []byte) *builder {
	starts := []int{0}
	for i, c := range data {
		if c == '\n' {
			starts = append(starts, i+1)
		}
	}
	return &builder{p: p, lineStarts: starts}
}

// pos is the 1-based line and byte column of an offset in the document.
func (b *builder) pos(offset uint32) Pos {
	o := int(offset)
	i, found := slices.BinarySearch(b.lineStarts, o)
	if !found {
		i-- // o is inside line i (0-based), which starts before it
	}
	return Pos{Line: i + 1, Col: o - b.lineStarts[i] + 1}
}

// build parses data, which the decoder has accepted, into a tree.
func build(data []byte) (*node, error) {
	p := &unstable.Parser{}
	p.Reset(data)
	b := newBuilder(p, data)
	root := newTable(unstable.Table, Pos{Line: 1, Col: 1})
	current := root
	for p.NextExpression() {
		expr := p.Expression()
		switch expr.Kind {
		case unstable.Table, unstable.ArrayTable:
			parts := b.keyParts(expr.Key())
			t := root
			for _, kp := range parts[:len(parts)-1] {
				t = t.child(kp.name, kp.pos)
			}
			last := parts[len(parts)-1]
			if expr.Kind == unstable.ArrayTable {
				// Job files have no use for arrays of tables; the checker reports this node
				// and the tables' contents go nowhere.
				if _, ok := t.kids[last.name]; !ok {
					t.set(last.name, &node{kind: unstable.ArrayTable, keyPos: last.pos, pos: last.pos})
				}
				current = newTable(unstable.Table, last.pos)
				continue
			}
			current = t.child(last.name, last.pos)
			// An explicit header wins over the implicit table a deeper header created.
			current.keyPos, current.pos = last.pos, last.pos
		case unstable.KeyValue:
			b.keyValue(current, expr)
		}
	}
	if err := p.Error(); err != nil {
		return nil, err
	}
	return root, nil
}

type keyPart struct {
	name string
	pos  Pos
}

func (b *builder) keyParts(it unstable.Iterator) []keyPart {
	var parts []keyPart
	for it.Next() {
		k := it.Node()
		parts = append(parts, keyPart{name: string(k.Data), pos: b.pos(k.Raw.Offset)})
	}
	return parts
}

// keyValue adds `a.b.c = value` to table t.
func (b *builder) keyValue(t *node, kv *unstable.Node) {
	it := kv.Key()
	var lastKey *unstable.Node
	var parts []keyPart
	for it.Next() {
		k := it.Node()
		lastKey = k
		parts = append(parts, keyPart{name: string(k.Data), pos: b.pos(k.Raw.Offset)})
	}
	for _, kp := range parts[:len(parts)-1] {
		t = t.child(kp.name, kp.pos)
	}
	last := parts[len(parts)-1]
	v := b.value(kv.Value(), b.valueStart(lastKey))
	v.keyPos = last.pos
	t.set(last.name, v)
}

// valueStart finds where the value of a key/value starts: after the key, '=' and blanks.
// Arrays carry no range of their own in the parser's tree, so this is the one way to place
// every kind of value.
func (b *builder) valueStart(lastKey *unstable.Node) Pos {
	data := b.p.Data()
	i := int(lastKey.Raw.Offset + lastKey.Raw.Length)
	for i < len(data) && (data[i] == ' ' || data[i] == '\t' || data[i] == '=') {
		i++
	}
	return b.pos(uint32(i))
}

func (b *builder) value(v *unstable.Node, at Pos) *node {
	switch v.Kind {
	case unstable.InlineTable:
		t := newTable(unstable.InlineTable, at)
		it := v.Children()
		for it.Next() {
			if c := it.Node(); c.Kind == unstable.KeyValue {
				b.keyValue(t, c)
			}
		}
		return t
	case unstable.Array:
		a := &node{kind: unstable.Array, pos: at}
		it := v.Children()
		for it.Next() {
			c := it.Node()
			if c.Kind == unstable.Comment {
				continue
			}
			elemAt := at
			if c.Raw.Length > 0 {
				elemAt = b.pos(c.Raw.Offset)
			}
			a.elems = append(a.elems, b.value(c, elemAt))
		}
		return a
	}
	return &node{kind: v.Kind, pos: at, data: string(v.Data)}
}
