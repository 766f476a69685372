package main

import (
	"bufio"
	"bytes"
	"debug/buildinfo"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// machine describes where the figures were measured.
type machine struct {
	Date       time.Time `json:"date"`
	CPU        string    `json:"cpu"`
	Cores      int       `json:"cores"`
	MemTotal   int64     `json:"mem_total"`
	Kernel     string    `json:"kernel"`
	Go         string    `json:"go"`         // the harness's
	ArbiterGo  string    `json:"arbiter_go"` // the toolchain that built the arbiter binary
	Arbiter    string    `json:"arbiter"`    // the binary measured
	TempDir    string    `json:"temp_dir"`
	Mount      string    `json:"mount"`      // the mount point holding TempDir
	Filesystem string    `json:"filesystem"` // its type
	Device     string    `json:"device"`     // its source
	Rotational string    `json:"rotational,omitempty"`
}

// describeMachine gathers what it can; a figure it cannot read stays empty.
func describeMachine(arbiterBin, tmp string) machine {
	m := machine{
		Date:    time.Now().Truncate(time.Second),
		Cores:   runtime.NumCPU(),
		Go:      runtime.Version(),
		Arbiter: arbiterBin,
		TempDir: tmp,
	}
	m.CPU = cpuModel()
	m.MemTotal = memTotal()
	var u unix.Utsname
	if unix.Uname(&u) == nil {
		m.Kernel = fmt.Sprintf("%s %s %s", unix.ByteSliceToString(u.Sysname[:]),
			unix.ByteSliceToString(u.Release[:]), unix.ByteSliceToString(u.Machine[:]))
	}
	if bi, err := buildinfo.ReadFile(arbiterBin); err == nil {
		m.ArbiterGo = bi.GoVersion
	}
	m.Mount, m.Filesystem, m.Device = mountOf(tmp)
	m.Rotational = rotational(m.Device)
	return m
}

func (m machine) write(w io.Writer) error {
	t := newTable("machine", "")
	t.row("date", m.Date.Format(time.RFC3339))
	t.row("cpu", fmt.Sprintf("%s (%d cores)", m.CPU, m.Cores))
	t.row("memory", fmtBytes(float64(m.MemTotal)))
	t.row("kernel", m.Kernel)
	t.row("go", fmt.Sprintf("%s (arbiter built with %s)", m.Go, m.ArbiterGo))
	t.row("arbiter", m.Arbiter)
	disk := fmt.Sprintf("%s on %s (%s)", m.Filesystem, m.Mount, m.Device)
	switch m.Rotational {
	case "0":
		disk += ", non-rotational"
	case "1":
		disk += ", rotational"
	}
	t.row("temp dir", m.TempDir+": "+disk)
	return t.write(w)
}

func cpuModel() string {
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return runtime.GOARCH
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return runtime.GOARCH
}

func memTotal() int64 {
	b, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return 0
	}
	for line := range bytes.Lines(b) {
		if rest, ok := bytes.CutPrefix(line, []byte("MemTotal:")); ok {
			f := bytes.Fields(rest)
			if len(f) > 0 {
				kb, _ := strconv.ParseInt(string(f[0]), 10, 64)
				return kb << 10
			}
		}
	}
	return 0
}

// mountOf finds the mount holding path in /proc/self/mountinfo: the longest mount point that
// contains it.
func mountOf(path string) (mount, fstype, source string) {
	if p, err := filepath.EvalSymlinks(path); err == nil {
		path = p
	}
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return "", "", ""
	}
	for line := range strings.Lines(string(b)) {
		// id parent major:minor root mountpoint options [optional...] - fstype source superopts
		before, after, ok := strings.Cut(line, " - ")
		if !ok {
			continue
		}
		f, g := strings.Fields(before), strings.Fields(after)
		if len(f) < 5 || len(g) < 2 {
			continue
		}
		mp := unescapeMount(f[4])
		if !within(path, mp) || len(mp) < len(mount) {
			continue
		}
		mount, fstype, source = mp, g[0], g[1]
	}
	return mount, fstype, source
}

func within(path, dir string) bool {
	return dir == "/" || path == dir || strings.HasPrefix(path, dir+"/")
}

// unescapeMount undoes mountinfo's octal escapes (\040 for a space).
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// rotational reads whether a block device spins, for a /dev/ source; "" when unknown.
func rotational(source string) string {
	if !strings.HasPrefix(source, "/dev/") {
		return ""
	}
	dev, err := filepath.EvalSymlinks(source)
	if err != nil {
		dev = source
	}
	name := filepath.Base(dev)
	// A partition's queue is its disk's: /sys/class/block/sda1/../queue.
	for _, p := range []string{
		filepath.Join("/sys/class/block", name, "queue/rotational"),
		filepath.Join("/sys/class/block", name, "../queue/rotational"),
	} {
		if b, err := os.ReadFile(p); err == nil {
			return strings.TrimSpace(string(b))
		}
	}
	return ""
}
