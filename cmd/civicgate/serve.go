package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/civicgate/civicgate/configs"
	"github.com/civicgate/civicgate/gateway/app"
	"github.com/civicgate/civicgate/gateway/audit"
	"github.com/civicgate/civicgate/gateway/config"
	"github.com/civicgate/civicgate/gateway/logging"
	"github.com/civicgate/civicgate/gateway/sqldb"
)

func serve(ctx context.Context, path string, stderr io.Writer) error {
	cfg, err := config.Load(path, config.Options{Environ: os.Environ()})
	if err != nil {
		return err
	}
	if err := cfg.CheckServe(); err != nil {
		return err
	}
	log := logging.New(stderr, cfg.Log.Format, cfg.Log.Level)
	return runGateway(ctx, cfg, log, nil)
}

type devOptions struct {
	Listen, Admin, DataDir, ConfigPath string
}

// dev runs the gateway on the embedded configs/dev.yaml with the listen
// address and data directory from the flags.
func dev(ctx context.Context, o devOptions, stdout, stderr io.Writer) error {
	var cfg *config.Config
	var err error
	env := os.Environ()
	if o.ConfigPath != "" {
		cfg, err = config.Load(o.ConfigPath, config.Options{Environ: env, Dev: true})
	} else {
		data := configs.Dev
		host, port, splitErr := net.SplitHostPort(o.Listen)
		if splitErr != nil {
			return fmt.Errorf("--listen: must be host:port, got %q", o.Listen)
		}
		// The browser is sent to localhost (cookies are per host name, so
		// one name must be used throughout); requests to 127.0.0.1 are
		// redirected there by the gateway in dev mode.
		if host == "" || host == "0.0.0.0" || host == "::" || host == "127.0.0.1" || host == "::1" {
			host = "localhost"
		}
		env = append(env, "CIVICGATE_LISTEN="+o.Listen, "CIVICGATE_PUBLIC_URL=http://"+net.JoinHostPort(host, port))
		if o.Admin != "" {
			env = append(env, "CIVICGATE_ADMIN_LISTEN="+o.Admin)
		}
		if o.DataDir != "" {
			env = append(env, "CIVICGATE_DATA_DIR="+o.DataDir)
		}
		cfg, err = config.Parse(data, config.Options{Environ: env, Dev: true})
		if err != nil {
			err = fmt.Errorf("embedded configs/dev.yaml: %w", err)
		}
	}
	if err != nil {
		return err
	}
	log := logging.New(stderr, cfg.Log.Format, cfg.Log.Level)
	return runGateway(ctx, cfg, log, func(addr string) {
		fmt.Fprintf(stdout, "\ncivicgate dev is running: %s  (TEST MODE – not a real e-ID)\n", cfg.PublicURL)
		fmt.Fprintf(stdout, "Mails to citizens: %s/dev/mailbox   Data in %s. Stop with Ctrl-C.\n\n", cfg.PublicURL, cfg.DataDir)
	})
}

// runGateway builds the gateway, binds both listeners (failing at once with
// a clear sentence if a port is taken), serves until ctx ends and then shuts
// down gracefully, letting requests in flight finish.
func runGateway(ctx context.Context, cfg *config.Config, log *slog.Logger, started func(addr string)) error {
	buildCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	a, err := app.Build(buildCtx, cfg, log, app.Options{})
	cancel()
	if err != nil {
		return err
	}
	defer a.Close()

	pub, err := listen("listen", cfg.Listen)
	if err != nil {
		return err
	}
	servers := []*http.Server{{
		Handler:           a.Server.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       60 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    32 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}}
	listeners := []net.Listener{pub}
	if cfg.TLS.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(cfg.TLS.CertFile, cfg.TLS.KeyFile)
		if err != nil {
			_ = pub.Close()
			return fmt.Errorf("tls: cannot load %s / %s: %v", cfg.TLS.CertFile, cfg.TLS.KeyFile, err)
		}
		listeners[0] = tls.NewListener(pub, &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12})
	}
	if cfg.AdminListen != "off" {
		adm, err := listen("admin_listen", cfg.AdminListen)
		if err != nil {
			_ = pub.Close()
			return err
		}
		listeners = append(listeners, adm)
		servers = append(servers, &http.Server{Handler: a.Server.AdminHandler(), ReadHeaderTimeout: 5 * time.Second})
	}

	// Background jobs start once the listeners are bound, and are stopped
	// (and waited for) before the database closes.
	stopJobs := a.Start()
	defer stopJobs()
	errc := make(chan error, len(servers))
	for i, srv := range servers {
		go func() {
			if err := srv.Serve(listeners[i]); err != nil && !errors.Is(err, http.ErrServerClosed) {
				errc <- err
			}
		}()
	}
	log.Info("civicgate started", "public_url", cfg.PublicURL, "listen", listeners[0].Addr().String(), "admin", cfg.AdminListen, "dev", cfg.Dev)
	if started != nil {
		started(listeners[0].Addr().String())
	}
	select {
	case <-ctx.Done():
	case err := <-errc:
		return fmt.Errorf("server stopped: %v", err)
	}
	log.Info("shutting down: finishing requests in flight", "timeout", cfg.ShutdownTimeout.String())
	sctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancel()
	var errs []error
	for _, srv := range servers {
		if err := srv.Shutdown(sctx); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("shutdown: %v", err)
	}
	log.Info("civicgate stopped")
	return nil
}

func listen(key, addr string) (net.Listener, error) {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		if errors.Is(err, syscall.EADDRINUSE) {
			return nil, fmt.Errorf("%s: address %s is already in use (is another civicgate running?)", key, addr)
		}
		if errors.Is(err, syscall.EACCES) {
			return nil, fmt.Errorf("%s: no permission to listen on %s", key, addr)
		}
		return nil, fmt.Errorf("%s: cannot listen on %s: %v", key, addr, err)
	}
	return l, nil
}

func configCheck(path string, stdout io.Writer) error {
	cfg, err := config.Load(path, config.Options{Environ: os.Environ()})
	if err != nil {
		return err
	}
	if err := cfg.CheckServe(); err != nil {
		return fmt.Errorf("config file %s: %w", path, err)
	}
	fmt.Fprintf(stdout, "%s is valid: %d identity provider(s), sessions in %s\n", path, len(cfg.IdentityProviders), cfg.Sessions.Store)
	return nil
}

func auditVerify(ctx context.Context, cfgPath, dataDir string, stdout io.Writer) error {
	var dsn, keyFile string
	switch {
	case cfgPath != "":
		cfg, err := config.Load(cfgPath, config.Options{Environ: os.Environ()})
		if err != nil {
			return err
		}
		dsn, keyFile = cfg.Database.DSN, cfg.Audit.HMACKeyFile
		if cfg.Database.DSNFile != "" {
			b, err := os.ReadFile(cfg.Database.DSNFile)
			if err != nil {
				return fmt.Errorf("database.dsn_file: cannot read %s", cfg.Database.DSNFile)
			}
			dsn = strings.TrimSpace(string(b))
		}
	case dataDir != "":
		dsn = "file:" + filepath.ToSlash(filepath.Join(dataDir, "civicgate.db"))
		keyFile = filepath.Join(dataDir, "audit-hmac.key")
	default:
		return usageError{"audit verify needs --config FILE (or --data DIR for civicgate dev)"}
	}
	db, dialect, err := sqldb.Open(ctx, dsn)
	if err != nil {
		return fmt.Errorf("database: cannot open %s: %v", app.RedactDSN(dsn), err)
	}
	defer db.Close()
	key, err := audit.LoadKey(keyFile)
	if err != nil {
		return fmt.Errorf("audit.hmac_key_file: %v", err)
	}
	log, err := audit.NewSQL(db, dialect, key, audit.Options{})
	if err != nil {
		return err
	}
	rep, err := log.Verify(ctx)
	if err != nil {
		return fmt.Errorf("audit verify: %v", err)
	}
	fmt.Fprintln(stdout, rep.String())
	if !rep.OK {
		return errors.New("the audit log has been tampered with")
	}
	return nil
}
