// Command civicgate is the citizen e-service gateway.
//
//	civicgate serve --config FILE    run in production
//	civicgate dev [--listen ADDR]    run on embedded defaults with the test e-ID provider
//	civicgate config check FILE      validate a configuration file
//	civicgate audit verify --config FILE   check the audit log's hash chain
//	civicgate version
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	_ "github.com/civicgate/civicgate/eservices/all"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

const usage = `civicgate – the citizen e-service gateway

Usage:
  civicgate serve --config FILE          run the gateway
  civicgate dev [--listen ADDR] [--admin ADDR|off] [--data DIR] [--config FILE]
                                         run on embedded defaults: built-in TEST e-ID,
                                         in-memory sessions, SQLite (http://localhost:8080)
  civicgate config check FILE            validate a configuration file and report every problem
  civicgate audit verify --config FILE   verify the audit log's hash chain
  civicgate version                      print the version
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		var ue usageError
		if errors.As(err, &ue) {
			fmt.Fprintf(os.Stderr, "civicgate: %v\n\n%s", err, usage)
			os.Exit(2)
		}
		fmt.Fprintf(os.Stderr, "civicgate: %v\n", err)
		os.Exit(1)
	}
}

type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return usageError{"no command given"}
	}
	switch args[0] {
	case "serve":
		fs := flag.NewFlagSet("serve", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		cfgPath := fs.String("config", os.Getenv("CIVICGATE_CONFIG"), "configuration file")
		if err := fs.Parse(args[1:]); err != nil {
			return usageError{"serve: " + err.Error()}
		}
		if *cfgPath == "" {
			return usageError{"serve needs --config FILE"}
		}
		return serve(ctx, *cfgPath, stderr)
	case "dev":
		fs := flag.NewFlagSet("dev", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		listen := fs.String("listen", "127.0.0.1:8080", "address to listen on")
		data := fs.String("data", "", "data directory (default ./civicgate-data)")
		admin := fs.String("admin", "127.0.0.1:9090", `operations listener (metrics, health), or "off"`)
		cfgPath := fs.String("config", "", "configuration file instead of the embedded configs/dev.yaml")
		if err := fs.Parse(args[1:]); err != nil {
			return usageError{"dev: " + err.Error()}
		}
		return dev(ctx, devOptions{Listen: *listen, Admin: *admin, DataDir: *data, ConfigPath: *cfgPath}, stdout, stderr)
	case "config":
		if len(args) != 3 || args[1] != "check" {
			return usageError{"usage: civicgate config check FILE"}
		}
		return configCheck(args[2], stdout)
	case "audit":
		if len(args) < 2 || args[1] != "verify" {
			return usageError{"usage: civicgate audit verify --config FILE"}
		}
		fs := flag.NewFlagSet("audit verify", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		cfgPath := fs.String("config", os.Getenv("CIVICGATE_CONFIG"), "configuration file")
		dataDir := fs.String("data", "", "data directory of civicgate dev (instead of --config)")
		if err := fs.Parse(args[2:]); err != nil {
			return usageError{"audit verify: " + err.Error()}
		}
		return auditVerify(ctx, *cfgPath, *dataDir, stdout)
	case "version", "--version", "-v":
		fmt.Fprintln(stdout, "civicgate", version)
		return nil
	case "help", "--help", "-h":
		fmt.Fprint(stdout, usage)
		return nil
	}
	return usageError{fmt.Sprintf("unknown command %q", args[0])}
}
