package saml

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strings"
)

// Limits on what reaches the XML parsers. A genuine Swedish eID response is
// a few kilobytes and about fifteen levels deep.
const (
	maxBodyBytes     = 256 << 10
	maxResponseDepth = 64
	maxMetadataBytes = 32 << 20
	maxMetadataDepth = 64
)

// scanXML walks the document's tokens with the standard library's strict
// decoder before any other parser sees it. DTDs are refused outright
// because they are the door for entity expansion and external entity (XXE)
// attacks, and depth is capped so that deeply nested input cannot exhaust
// the recursive parsers behind us.
func scanXML(b []byte, maxDepth int) error {
	d := xml.NewDecoder(bytes.NewReader(b))
	d.Strict = true
	depth, roots, first := 0, 0, true
	for {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			// The decoder's message can quote input, so it is not passed on.
			return errors.New("response is not well-formed XML")
		}
		switch t := tok.(type) {
		case xml.StartElement:
			depth++
			if depth > maxDepth {
				return fmt.Errorf("XML nesting deeper than %d", maxDepth)
			}
			if depth == 1 {
				roots++
				if roots > 1 {
					return errors.New("XML has more than one root element")
				}
			}
		case xml.EndElement:
			depth--
		case xml.Directive:
			return errors.New("XML with a DTD or entity declaration refused")
		case xml.ProcInst:
			if t.Target != "xml" || !first {
				return errors.New("XML processing instruction refused")
			}
		case xml.CharData:
			if depth == 0 && strings.TrimSpace(string(t)) != "" {
				return errors.New("text outside the root element")
			}
		}
		first = false
	}
	if roots != 1 {
		return errors.New("XML has no root element")
	}
	return nil
}
