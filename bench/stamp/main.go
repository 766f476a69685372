// Command stamp is the job the benchmark harness schedules. It records when it started:
//
//	stamp FILE       appends "<ARBITER_JOB> <ARBITER_SCHEDULED_AT> <start unix nanos>\n" to FILE
//	stamp -print N   writes N bytes to stdout instead
//
// The line is one write to a file opened O_APPEND, so concurrent stamps never interleave.
package main

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"time"
)

func main() {
	// The very first statement: everything after it (argument parsing, opening the file) is
	// the program's own cost, not the scheduler's lateness.
	start := time.Now()
	if err := run(start, os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "stamp:", err)
		os.Exit(1)
	}
}

func run(start time.Time, args []string) error {
	switch {
	case len(args) == 2 && args[0] == "-print":
		n, err := strconv.Atoi(args[1])
		if err != nil || n < 0 {
			return fmt.Errorf("-print wants a byte count, not %q", args[1])
		}
		return printBytes(n)
	case len(args) == 1:
		return appendStamp(args[0], start)
	}
	return fmt.Errorf("usage: stamp FILE | stamp -print N")
}

func appendStamp(path string, start time.Time) error {
	line := fmt.Sprintf("%s %s %d\n", os.Getenv("ARBITER_JOB"), os.Getenv("ARBITER_SCHEDULED_AT"), start.UnixNano())
	f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	// One write: O_APPEND makes it land whole at the end, whoever else appends.
	if _, err := f.Write([]byte(line)); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// printBytes writes n bytes of text (lines of 'x') to stdout.
func printBytes(n int) error {
	w := bufio.NewWriterSize(os.Stdout, 64<<10)
	line := []byte("xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\n") // 64 bytes
	for n > 0 {
		k := min(n, len(line))
		if _, err := w.Write(line[len(line)-k:]); err != nil {
			return err
		}
		n -= k
	}
	return w.Flush()
}
