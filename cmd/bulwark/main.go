// Command bulwark runs and administers a Bulwark deployment.
//
//	bulwark serve                 start the HTTPS server
//	bulwark migrate               apply database migrations
//	bulwark operator create EMAIL create an operator account
//	bulwark tenant create SLUG    create a tenant and its first owner
//	bulwark tenant list           list tenants
//	bulwark tenant delete SLUG    delete a tenant, destroying its keys
//	bulwark audit ...             public-key, verify, verify-export
//	bulwark version               print the version
//
// This is the only package that wires concrete types together.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	// The first SIGINT or SIGTERM cancels ctx and starts a graceful
	// shutdown; stop() then restores the default handling, so a second
	// signal ends the process at once.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go func() {
		<-ctx.Done()
		stop()
	}()
	code := run(ctx, os.Args[1:], os.Getenv, os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// Exit codes.
const (
	exitOK    = 0
	exitError = 1 // the command ran and failed
	exitUsage = 2 // the command line was wrong
)

// env is what every command gets from its caller.
type env struct {
	getenv func(string) string
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
}

const usage = `Bulwark is a multi-tenant SaaS backend whose security measures are
running, tested features.

Usage:

	bulwark <command> [arguments]

Commands:

	serve                  start the HTTPS server (creating the data directory,
	                       the development certificate and the database schema)
	migrate                apply the database migrations and exit
	operator create EMAIL  create an operator and print its activation token
	tenant create SLUG     create a tenant and its first owner
	tenant list            list tenants
	tenant delete SLUG     delete a tenant and its data, destroying its keys
	audit public-key       print the audit log's public key
	audit verify           verify the audit log (primary and replica, or a
	                       replica alone with --replica URL --public-key FILE)
	audit verify-export F  verify a tenant's audit export offline
	keys list              the encryption key inventory of every tenant
	keys rotate            rotate a tenant's data key and re-seal its values
	keys rotate-kek        re-wrap every tenant key under a new KEK version
	bench                  measure throughput and latency (docs/performance.md)
	bench pool FILE...     pool the rounds of several bench runs' JSON files
	version                print the version
	help [command]         show help for a command

Run "bulwark <command> --help" for a command's flags. Every flag can also be
set through a BULWARK_* environment variable; flags win. See docs/cli.md.
`

// run is main without the process: arguments, environment and streams are
// parameters, so tests call it directly. It returns the exit code.
func run(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) int {
	e := &env{getenv: getenv, stdin: stdin, stdout: stdout, stderr: stderr}
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return exitUsage
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "serve":
		return runServe(ctx, e, rest)
	case "migrate":
		return runMigrate(ctx, e, rest)
	case "operator":
		return runOperator(ctx, e, rest)
	case "tenant":
		return runTenant(ctx, e, rest)
	case "version":
		return runVersion(ctx, e, rest)
	case "audit":
		return runAudit(ctx, e, rest)
	case "keys":
		return runKeys(ctx, e, rest)
	case "bench":
		return runBench(ctx, e, rest)
	case "help", "-h", "-help", "--help":
		if len(rest) > 0 && cmd == "help" {
			// "bulwark help serve" is "bulwark serve --help".
			return run(ctx, append(rest, "--help"), getenv, stdin, stdout, stderr)
		}
		fmt.Fprint(stdout, usage)
		return exitOK
	default:
		fmt.Fprintf(stderr, "bulwark: unknown command %q\n\n", cmd)
		fmt.Fprint(stderr, usage)
		return exitUsage
	}
}
