package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
)

// command is one command's flags and help text.
type command struct {
	fs *flag.FlagSet
	// synopsis is the usage line, such as "bulwark tenant create SLUG [flags]".
	synopsis string
	// help is a paragraph or two about what the command does.
	help string
	// env maps a flag name to the environment variable that also sets it.
	env map[string]string
	// meta maps a flag name to the placeholder of its value in the help.
	meta map[string]string
}

func newCommand(name, synopsis, help string) *command {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	c := &command{fs: fs, synopsis: synopsis, help: help, env: map[string]string{}, meta: map[string]string{}}
	// parse prints the usage itself, to stdout for --help and to stderr
	// after an error; the flag package only prints the error.
	fs.Usage = func() {}
	return c
}

// printUsage writes the command's help, flags and environment variables.
func (c *command) printUsage(w io.Writer) {
	fmt.Fprintf(w, "Usage: %s\n\n%s\n", c.synopsis, strings.TrimSpace(c.help))
	n := 0
	c.fs.VisitAll(func(*flag.Flag) { n++ })
	if n == 0 {
		return
	}
	fmt.Fprint(w, "\nFlags:\n")
	c.fs.VisitAll(func(f *flag.Flag) {
		meta, text := flag.UnquoteUsage(f)
		if m, ok := c.meta[f.Name]; ok {
			meta = m
		}
		line := "  --" + f.Name
		if meta != "" {
			line += " " + meta
		}
		fmt.Fprintf(w, "%s\n        %s", line, text)
		var notes []string
		if ev, ok := c.env[f.Name]; ok {
			notes = append(notes, "env "+ev)
		}
		if f.DefValue != "" && f.DefValue != "false" {
			notes = append(notes, "default "+f.DefValue)
		}
		if len(notes) > 0 {
			fmt.Fprintf(w, " (%s)", strings.Join(notes, "; "))
		}
		fmt.Fprintln(w)
	})
}

// parse parses args, flags and positional arguments in any order (so
// "tenant create acme --name Acme" works as well as the flags first).
// When ok is false the caller returns code: 0 after --help, 2 after a bad
// flag or a wrong number of arguments (want < 0: any number).
func (c *command) parse(e *env, args []string, want int) (pos []string, code int, ok bool) {
	c.fs.SetOutput(e.stderr)
	for {
		err := c.fs.Parse(args)
		if errors.Is(err, flag.ErrHelp) {
			c.printUsage(e.stdout)
			return nil, exitOK, false
		}
		if err != nil {
			fmt.Fprintln(e.stderr)
			c.printUsage(e.stderr)
			return nil, exitUsage, false
		}
		rest := c.fs.Args()
		if len(rest) == 0 {
			break
		}
		// After "--" everything is positional.
		if consumed := len(args) - len(rest); consumed > 0 && args[consumed-1] == "--" {
			pos = append(pos, rest...)
			break
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
	if want >= 0 && len(pos) != want {
		if len(pos) > want {
			fmt.Fprintf(e.stderr, "unexpected argument %q\n\n", pos[want])
		} else {
			fmt.Fprintf(e.stderr, "missing argument\n\n")
		}
		c.printUsage(e.stderr)
		return nil, exitUsage, false
	}
	return pos, exitOK, true
}

// setFromEnv sets each of the named flags that was not given from its
// environment variable (c.env), when that is set: flags win over the
// environment.
func (c *command) setFromEnv(e *env, names ...string) error {
	given := map[string]bool{}
	c.fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	for _, name := range names {
		ev, ok := c.env[name]
		if !ok || given[name] {
			continue
		}
		if v := e.getenv(ev); v != "" {
			if err := c.fs.Set(name, v); err != nil {
				return fmt.Errorf("%s: %w", ev, err)
			}
		}
	}
	return nil
}

// usageError reports a wrong command line that the flag package cannot
// see (a required flag missing) and returns exit code 2.
func (c *command) usageError(e *env, format string, args ...any) int {
	fmt.Fprintf(e.stderr, format+"\n\n", args...)
	c.printUsage(e.stderr)
	return exitUsage
}

// subcommands dispatches "bulwark NOUN VERB": with no verb, or an unknown
// one, it prints the noun's usage and returns 2.
func subcommands(e *env, noun, help string, args []string, verbs map[string]func([]string) int) int {
	if len(args) > 0 {
		if f, ok := verbs[args[0]]; ok {
			return f(args[1:])
		}
		switch args[0] {
		case "-h", "-help", "--help", "help":
			fmt.Fprint(e.stdout, help)
			return exitOK
		}
		fmt.Fprintf(e.stderr, "bulwark %s: unknown command %q\n\n", noun, args[0])
	}
	fmt.Fprint(e.stderr, help)
	return exitUsage
}

// configError reports a setting that parsed but is not valid, from a flag
// or the environment, and returns exit code 2.
func (c *command) configError(e *env, err error) int {
	fmt.Fprintf(e.stderr, "bulwark %s: %v\nRun \"bulwark %s --help\" for the flags.\n", c.fs.Name(), err, c.fs.Name())
	return exitUsage
}
