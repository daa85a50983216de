package app

import (
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"

	"github.com/civicgate/civicgate/auth"
	"github.com/civicgate/civicgate/eservices"
	"github.com/civicgate/civicgate/gateway"
	"github.com/civicgate/civicgate/gateway/config"
	mw "github.com/civicgate/civicgate/gateway/middleware"
	"github.com/civicgate/civicgate/gateway/remote"
	"github.com/civicgate/civicgate/web"
)

// remoteModules puts each configured remote module behind the gateway as an
// e-service module: the same guard, at /e/<id>/, proxied with a signed
// identity assertion whose keys are published at remote.JWKSPath.
func (a *App) remoteModules(cfg *config.Config, deps *gateway.Deps, log *slog.Logger) error {
	signingFiles := cfg.Remote.SigningKeyFiles
	pseudoFile := cfg.Remote.PseudonymKeyFile
	if cfg.Dev && len(signingFiles) == 0 {
		dir := filepath.Join(cfg.DataDir, "dev-keys")
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return fmt.Errorf("data_dir: %v", err)
		}
		f := filepath.Join(dir, "remote-signing.pem")
		if _, err := os.Stat(f); err != nil {
			if err := remote.GenerateKeyFile(f); err != nil {
				return fmt.Errorf("data_dir: %v", err)
			}
		}
		signingFiles = []string{f}
	}
	if cfg.Dev && pseudoFile == "" {
		pseudoFile = filepath.Join(cfg.DataDir, "dev-keys", "remote-pseudonym.key")
		if _, err := persistentSecret(pseudoFile); err != nil {
			return fmt.Errorf("data_dir: %v", err)
		}
	}
	if len(signingFiles) == 0 {
		return nil // no remote modules and no keys: nothing to publish
	}
	signer, err := remote.LoadSignerFiles(signingFiles)
	if err != nil {
		return fmt.Errorf("remote.signing_key_files: %v", err)
	}
	deps.Extra[remote.JWKSPath] = signer.JWKSHandler()
	if len(cfg.RemoteModules) == 0 {
		return nil
	}
	pseudo, err := remote.LoadPseudonymKeyFile(pseudoFile)
	if err != nil {
		return fmt.Errorf("remote.pseudonym_key_file: %v", err)
	}
	for i, mc := range cfg.RemoteModules {
		rm := &remoteModule{cfg: mc}
		p, err := remote.NewProxy(mc, signer, remote.Options{
			PublicURL:    cfg.PublicURL,
			PseudonymKey: pseudo,
			Identity:     identityClaims,
			ErrorPage:    func(w http.ResponseWriter, r *http.Request, status int) { rm.fail(w, r, status) },
			Logger:       log.With("module", mc.ID),
		})
		if err != nil {
			return fmt.Errorf("remote_modules[%d]: %v", i, err)
		}
		rm.proxy = p
		info := rm.Info()
		if err := info.Validate(); err != nil {
			return fmt.Errorf("remote_modules[%d]: %v", i, err)
		}
		for _, m := range deps.Modules {
			if m.Info().ID == info.ID {
				return fmt.Errorf("remote_modules[%d].id: %q is also a bundled module", i, info.ID)
			}
		}
		deps.Modules = append(deps.Modules, rm)
		a.remotes = append(a.remotes, rm)
	}
	return nil
}

// remoteModule adapts a remote proxy to the module contract.
type remoteModule struct {
	cfg   remote.ModuleConfig
	proxy *remote.Proxy
	srv   *gateway.Server
}

func (m *remoteModule) Info() eservices.Info {
	ri := m.cfg.Info
	var actors []eservices.ActorKind
	for _, a := range ri.AllowedActors() {
		actors = append(actors, eservices.ActorKind(a))
	}
	return eservices.Info{
		ID: m.cfg.ID, CasePrefix: ri.Prefix(m.cfg.ID),
		TitleSv: ri.TitleSv, TitleEn: ri.TitleEn, DescriptionSv: ri.DescriptionSv, DescriptionEn: ri.DescriptionEn,
		Owner:  eservices.Owner{Department: ri.Owner.Department, Name: ri.Owner.Name, Contact: ri.Owner.Contact},
		MinLoA: ri.Level(), Actors: actors, HandlerRoles: ri.HandlerRoles, PersonalData: ri.PersonalData,
		LegalBasis: ri.LegalBasis, Retention: ri.Retention, Confidential: ri.Confidential,
	}
}

func (m *remoteModule) ServeHTTP(w http.ResponseWriter, r *http.Request) { m.proxy.ServeHTTP(w, r) }

func (m *remoteModule) fail(w http.ResponseWriter, r *http.Request, status int) {
	key := "error.500"
	switch status {
	case http.StatusUnauthorized, http.StatusForbidden:
		key = "error.403"
		status = http.StatusForbidden
	case http.StatusRequestEntityTooLarge:
		key = "error.413"
	case http.StatusBadGateway, http.StatusGatewayTimeout:
		key = "error.module"
	}
	if m.srv != nil {
		m.srv.Fail(w, r, status, key)
		return
	}
	http.Error(w, http.StatusText(status), status)
}

// identityClaims builds the assertion's input from what the gateway's guard
// put in the request: the actor, the subject and the session's CSRF token.
func identityClaims(r *http.Request) (remote.Claims, bool) {
	ctx := r.Context()
	act := eservices.ActorFrom(ctx)
	if act == nil {
		return remote.Claims{}, false
	}
	c := remote.ClaimsFromIdentity(act.Identity)
	c.Channel = act.Channel
	if sub := eservices.SubjectFrom(ctx); sub != nil {
		c.SubjectKey = sub.PersonalNumber
		c.SubjectPersonalNumber = sub.PersonalNumber
		c.SubjectName = sub.Name
	}
	if act.Kind == eservices.ContactCentre {
		c.OnBehalf = true
	}
	if act.Identity.Kind == auth.Staff && act.Kind != eservices.ContactCentre {
		c.SubjectKey, c.SubjectPersonalNumber, c.SubjectName = "", "", ""
	}
	c.RequestID = mw.RequestIDFrom(ctx)
	c.CSRFToken = web.RequestFrom(ctx).CSRF
	return c, true
}
