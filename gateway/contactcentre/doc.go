// Package contactcentre is the contact centre's staff workspace (find a
// citizen, act on their behalf, see and add to their cases) and the
// management statistics of every e-service (pages, CSV export and
// Prometheus metrics).
package contactcentre
