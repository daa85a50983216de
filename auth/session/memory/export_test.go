package memory

import "github.com/civicgate/civicgate/auth/session"

// IdleSlack is the rule the backend uses.
var IdleSlack = session.IdleSlack
