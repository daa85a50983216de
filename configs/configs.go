// Package configs embeds the configuration files shipped with civicgate so
// that `civicgate dev` runs without any file on disk.
package configs

import _ "embed"

// Dev is configs/dev.yaml.
//
//go:embed dev.yaml
var Dev []byte

// ProductionExample is configs/production.example.yaml.
//
//go:embed production.example.yaml
var ProductionExample []byte

// Population is configs/population.yaml, the test population register.
//
//go:embed population.yaml
var Population []byte
