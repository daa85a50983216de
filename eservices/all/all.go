// Package all links the bundled e-service modules into the binary: each
// blank import runs the module's init, which registers it. Adding a module
// is a new folder under eservices/ and one line here.
package all

import (
	// The bundled modules, one line each (keep sorted):
	_ "github.com/civicgate/civicgate/eservices/buildingpermit"
	_ "github.com/civicgate/civicgate/eservices/schoolabsence"
	_ "github.com/civicgate/civicgate/eservices/socialcase"
)
