package remote

import (
	"testing"
	"time"

	"github.com/goccy/go-yaml"
)

func TestModuleConfigYAML(t *testing.T) {
	doc := `
remote_modules:
  - id: exempel
    upstream: http://127.0.0.1:8181
    allow_personal_number: true
    timeout: 5s
    max_body_bytes: 2048
    title_sv: Felanmälan gata och park
    title_en: Report a street or park fault
    owner:
      department: Tekniska förvaltningen
      name: Gatuchef
      contact: felanmalan@example.se
    min_loa: low
    actors: [self, contact-centre]
    handler_roles: [street-handler]
    personal_data: [name, location]
    legal_basis: public task
    retention: 17520h
`
	var f struct {
		RemoteModules []ModuleConfig `yaml:"remote_modules"`
	}
	if err := yaml.UnmarshalWithOptions([]byte(doc), &f, yaml.Strict()); err != nil {
		t.Fatal(err)
	}
	if len(f.RemoteModules) != 1 {
		t.Fatalf("%d modules", len(f.RemoteModules))
	}
	m := f.RemoteModules[0]
	if err := m.Validate(); err != nil {
		t.Fatal(err)
	}
	if m.ID != "exempel" || !m.AllowPersonalNumber || m.Timeout != 5*time.Second || m.MaxBodyBytes != 2048 ||
		m.Info.TitleSv != "Felanmälan gata och park" || m.Info.Owner.Contact != "felanmalan@example.se" ||
		m.Info.Level().String() != "low" || len(m.Info.Actors) != 2 || len(m.Info.PersonalData) != 2 ||
		m.Info.Retention != 17520*time.Hour || m.Info.Prefix(m.ID) != "EXEMPEL" {
		t.Errorf("decoded %+v", m)
	}
}
