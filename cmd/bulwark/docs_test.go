package main

import (
	"os"
	"regexp"
	"strings"
	"testing"
)

var (
	flagLineRE = regexp.MustCompile(`(?m)^  --([a-z0-9-]+)`)
	envRE      = regexp.MustCompile(`\bBULWARK_[A-Z_]+[A-Z]\b`)
	wordRE     = regexp.MustCompile(`^[a-z][a-z-]*$`)
)

// commandsFromUsage lists the commands "bulwark help" shows, such as
// ["tenant", "create"], without "help" itself.
func commandsFromUsage(t *testing.T) [][]string {
	t.Helper()
	r := runCmd(t, nil, "help")
	_, list, ok := strings.Cut(r.stdout, "Commands:\n")
	if !ok {
		t.Fatal("no Commands: section in the usage")
	}
	list, _, _ = strings.Cut(list, "\nRun ")
	var cmds [][]string
	for _, line := range strings.Split(list, "\n") {
		if !strings.HasPrefix(line, "\t") || strings.HasPrefix(line, "\t ") {
			continue // blank or a continuation line
		}
		var words []string
		for _, w := range strings.Fields(line) {
			if !wordRE.MatchString(w) {
				break
			}
			words = append(words, w)
			if len(words) == 2 {
				break
			}
		}
		// "serve   start the..." : only the first word is the command when
		// the second is prose, which is told apart by the column gap.
		if len(words) == 2 && !strings.Contains(line, "\t"+words[0]+" "+words[1]) {
			words = words[:1]
		}
		if len(words) > 0 && words[0] != "help" {
			cmds = append(cmds, words)
		}
	}
	if len(cmds) < 6 {
		t.Fatalf("found only %v in the usage", cmds)
	}
	return cmds
}

// docs/cli.md documents every command, every flag and every environment
// variable that the commands' own help shows: a flag added without its
// documentation fails here.
func TestDocsCoverEveryCommandAndFlag(t *testing.T) {
	b, err := os.ReadFile("../../docs/cli.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	cmds := commandsFromUsage(t)
	t.Logf("commands: %v", cmds)
	for _, cmd := range cmds {
		name := strings.Join(cmd, " ")
		if !strings.Contains(doc, "bulwark "+name) && !strings.Contains(doc, "`"+name) {
			t.Errorf("docs/cli.md does not mention the command %q", name)
		}
		r := runCmd(t, nil, append(cmd, "--help")...)
		if r.code != exitOK {
			t.Errorf("%s --help: exit %d", name, r.code)
			continue
		}
		for _, m := range flagLineRE.FindAllStringSubmatch(r.stdout, -1) {
			if !strings.Contains(doc, "--"+m[1]) {
				t.Errorf("docs/cli.md does not mention %s --%s", name, m[1])
			}
		}
		for _, v := range envRE.FindAllString(r.stdout, -1) {
			if !strings.Contains(doc, v) {
				t.Errorf("docs/cli.md does not mention %s (from %s --help)", v, name)
			}
		}
	}
}
