package memory

// IdleSlack is idleSlack.
var IdleSlack = idleSlack
