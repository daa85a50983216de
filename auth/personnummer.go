package auth

import (
	"errors"
	"strconv"
	"strings"
	"time"
)

// Errors from ParsePersonalNumber. They say what is wrong without echoing the
// number, so they are safe to log.
var (
	ErrPNFormat     = errors.New("auth: personal identity number must be 12 digits (YYYYMMDDNNNC) or YYMMDD-NNNC")
	ErrPNDate       = errors.New("auth: personal identity number has an impossible date of birth")
	ErrPNCheckDigit = errors.New("auth: personal identity number has a wrong check digit")
)

// PersonalNumber is a validated Swedish personal identity number
// (personnummer) or coordination number (samordningsnummer) in its 12-digit
// wire form YYYYMMDDNNNC. Its String method masks it, so printing one by
// mistake does not leak it; Digits returns the full number.
type PersonalNumber struct{ digits string }

// ParsePersonalNumber validates and normalises a number. It accepts
// YYYYMMDDNNNC, YYYYMMDD-NNNC, YYMMDDNNNC, YYMMDD-NNNC and YYMMDD+NNNC
// (the plus sign marks a person aged 100 or more). now decides the century
// of the short forms.
func ParsePersonalNumber(s string, now time.Time) (PersonalNumber, error) {
	s = strings.TrimSpace(s)
	s = strings.ReplaceAll(s, " ", "")
	sep := byte(0)
	switch len(s) {
	case 13, 11:
		sep = s[len(s)-5]
		if sep != '-' && sep != '+' {
			return PersonalNumber{}, ErrPNFormat
		}
		s = s[:len(s)-5] + s[len(s)-4:]
	case 12, 10:
	default:
		return PersonalNumber{}, ErrPNFormat
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return PersonalNumber{}, ErrPNFormat
		}
	}
	if len(s) == 12 && sep == '+' {
		return PersonalNumber{}, ErrPNFormat
	}
	if len(s) == 10 {
		yy, _ := strconv.Atoi(s[0:2])
		mm, _ := strconv.Atoi(s[2:4])
		dd, _ := strconv.Atoi(s[4:6])
		if dd > 60 {
			dd -= 60
		}
		// The century is the latest one that puts the birth date in the past;
		// '+' adds a hundred years.
		year := now.Year()/100*100 + yy
		if time.Date(year, time.Month(mm), dd, 0, 0, 0, 0, time.UTC).After(now) {
			year -= 100
		}
		if sep == '+' {
			year -= 100
		}
		s = strconv.Itoa(year/100) + s
		if len(s) != 12 {
			return PersonalNumber{}, ErrPNFormat
		}
	}
	if err := validateDigits(s); err != nil {
		return PersonalNumber{}, err
	}
	return PersonalNumber{digits: s}, nil
}

// ValidPersonalNumber reports whether s is a valid number in the 12-digit wire
// form that identity providers send.
func ValidPersonalNumber(s string) bool {
	if len(s) != 12 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return validateDigits(s) == nil
}

func validateDigits(s string) error {
	year, _ := strconv.Atoi(s[0:4])
	month, _ := strconv.Atoi(s[4:6])
	day, _ := strconv.Atoi(s[6:8])
	if day > 60 {
		day -= 60 // samordningsnummer
	}
	if year < 1800 || month < 1 || month > 12 || day < 1 {
		return ErrPNDate
	}
	t := time.Date(year, time.Month(month), day, 0, 0, 0, 0, time.UTC)
	if t.Year() != year || int(t.Month()) != month || t.Day() != day {
		return ErrPNDate
	}
	if !luhnValid(s[2:]) {
		return ErrPNCheckDigit
	}
	return nil
}

// luhnValid checks the Luhn digit over ten digits with weights 2,1,2,1,...
func luhnValid(ten string) bool {
	sum := 0
	for i := 0; i < 10; i++ {
		d := int(ten[i] - '0')
		if i%2 == 0 {
			d *= 2
			if d > 9 {
				d -= 9
			}
		}
		sum += d
	}
	return sum%10 == 0
}

// Digits returns the full 12-digit number. Use it for storage and lookups,
// never for logs.
func (p PersonalNumber) Digits() string { return p.digits }

// IsZero reports whether p holds no number.
func (p PersonalNumber) IsZero() bool { return p.digits == "" }

// IsCoordinationNumber reports whether p is a samordningsnummer (day + 60).
func (p PersonalNumber) IsCoordinationNumber() bool {
	return len(p.digits) == 12 && p.digits[6] >= '6'
}

// String masks the number as YYYYMMDD-XXXX.
func (p PersonalNumber) String() string { return MaskPersonalNumber(p.digits) }

// MaskPersonalNumber shows the date of birth and hides the last four digits:
// "YYYYMMDD-XXXX". Anything that is not a 12-digit string is hidden whole.
func MaskPersonalNumber(s string) string {
	if len(s) != 12 {
		if s == "" {
			return ""
		}
		return "XXXXXXXX-XXXX"
	}
	return s[:8] + "-XXXX"
}

// Formatted returns the number as YYYYMMDD-NNNC for showing to its owner.
func (p PersonalNumber) Formatted() string {
	if len(p.digits) != 12 {
		return ""
	}
	return p.digits[:8] + "-" + p.digits[8:]
}
