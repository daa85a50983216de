package socialcase

import (
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Application is the content of a case: the module's JSON document in the
// case store. It is confidential and never logged.
type Application struct {
	// Month is the month applied for, "YYYY-MM".
	Month string `json:"month"`
	// ApplicantName is the name from the applicant's e-ID, for the handler.
	ApplicantName string `json:"applicant_name"`
	// Household lists the people living with the applicant.
	Household []Member `json:"household"`
	// Income and Expenses are whole kronor per month, by type (see
	// incomeTypes and expenseTypes).
	Income   map[string]int64 `json:"income"`
	Expenses map[string]int64 `json:"expenses"`
	// Housing is one of housingTypes.
	Housing string `json:"housing"`
	// Other is free text from the applicant.
	Other string `json:"other"`
	// Consent is true once the applicant confirmed that the information is
	// true, at ConsentAt, just before submitting.
	Consent   bool      `json:"consent"`
	ConsentAt time.Time `json:"consent_at,omitzero"`
}

// Member is one person in the applicant's household besides the applicant.
type Member struct {
	Name     string `json:"name"`
	Relation string `json:"relation"`
	Age      int    `json:"age"`
}

// The choices and limits of the form. The amount limits are far above any
// real monthly figure and are there to catch typing errors (an extra zero
// or two) before a handler has to.
var (
	incomeTypes  = []string{"salary", "benefits", "other"}
	expenseTypes = []string{"rent", "electricity", "insurance", "childcare", "medicine", "travel", "other"}
	housingTypes = []string{"rental", "sublet", "condominium", "house", "lodger", "homeless", "other"}
	relations    = []string{"partner", "child", "other"}
)

const (
	// householdRows is how many household rows the form offers; blank rows
	// are ignored, so no script is needed to add rows.
	householdRows = 6
	maxIncome     = 1_000_000
	maxExpense    = 100_000
	maxAge        = 120
	maxNameLen    = 100
	maxOtherLen   = 4000
	// maxFiles is how many files one form submission may carry.
	maxFiles = 5
)

// Total returns the sum of amounts.
func Total(amounts map[string]int64) int64 {
	var t int64
	for _, v := range amounts {
		t += v
	}
	return t
}

// monthOption is one month the applicant may choose.
type monthOption struct {
	Value string // YYYY-MM
}

// allowedMonths returns the current and the next month in Swedish time:
// aid is applied for the month one needs it, or the coming one.
func allowedMonths(now time.Time) []monthOption {
	now = now.In(stockholm)
	first := time.Date(now.Year(), now.Month(), 1, 12, 0, 0, 0, stockholm)
	return []monthOption{{first.Format("2006-01")}, {first.AddDate(0, 1, 0).Format("2006-01")}}
}

var stockholm = func() *time.Location {
	l, err := time.LoadLocation("Europe/Stockholm")
	if err != nil {
		return time.FixedZone("CET", 3600)
	}
	return l
}()

// fieldError is a problem with one form field: Field is the input's id,
// Key the message key that explains it.
type fieldError struct {
	Field, Key string
}

// form is the application form as typed, kept as strings so that a page
// shown again after an error has everything the person wrote.
type form struct {
	Month     string
	Months    []monthOption
	Household []memberRow
	Income    []amountField
	Expenses  []amountField
	Housing   string
	Other     string
	Errors    []fieldError
}

type memberRow struct {
	Index, Number       int // Number is Index+1, for people
	Name, Relation, Age string
}

type amountField struct {
	Type, Value string
}

// Err returns the message key of field's problem, or "".
func (f *form) Err(field string) string {
	for _, e := range f.Errors {
		if e.Field == field {
			return e.Key
		}
	}
	return ""
}

func (f *form) add(field, key string) { f.Errors = append(f.Errors, fieldError{field, key}) }

// Housings returns the housing choices, for the template.
func (f *form) Housings() []string { return housingTypes }

// Relations returns the relation choices, for the template.
func (f *form) Relations() []string { return relations }

// newForm returns an empty form for the months open at now.
func newForm(now time.Time) *form {
	f := &form{Months: allowedMonths(now)}
	for i := range householdRows {
		f.Household = append(f.Household, memberRow{Index: i, Number: i + 1})
	}
	for _, t := range incomeTypes {
		f.Income = append(f.Income, amountField{Type: t})
	}
	for _, t := range expenseTypes {
		f.Expenses = append(f.Expenses, amountField{Type: t})
	}
	return f
}

// formFrom fills a form from a stored application, for editing a draft.
func formFrom(a Application, now time.Time) *form {
	f := newForm(now)
	f.Month, f.Housing, f.Other = a.Month, a.Housing, a.Other
	for i, m := range a.Household {
		if i < householdRows {
			f.Household[i] = memberRow{Index: i, Number: i + 1, Name: m.Name, Relation: m.Relation, Age: strconv.Itoa(m.Age)}
		}
	}
	for i, t := range incomeTypes {
		if v, ok := a.Income[t]; ok && v != 0 {
			f.Income[i].Value = strconv.FormatInt(v, 10)
		}
	}
	for i, t := range expenseTypes {
		if v, ok := a.Expenses[t]; ok && v != 0 {
			f.Expenses[i].Value = strconv.FormatInt(v, 10)
		}
	}
	return f
}

// parseForm reads the posted form and validates it; the application is
// usable only when f.Errors is empty.
func parseForm(v url.Values, now time.Time) (*form, Application) {
	f := newForm(now)
	a := Application{Income: map[string]int64{}, Expenses: map[string]int64{}}
	f.Month = strings.TrimSpace(v.Get("month"))
	a.Month = f.Month
	if key := checkMonth(f.Month, now); key != "" {
		f.add("month", key)
	}
	for i := range f.Household {
		row := &f.Household[i]
		p := "hh-" + strconv.Itoa(i) + "-"
		row.Name = strings.TrimSpace(v.Get(p + "name"))
		row.Relation = strings.TrimSpace(v.Get(p + "relation"))
		row.Age = strings.TrimSpace(v.Get(p + "age"))
		if row.Name == "" && row.Relation == "" && row.Age == "" {
			continue
		}
		m := Member{Name: row.Name, Relation: row.Relation}
		switch {
		case row.Name == "":
			f.add(p+"name", "err.name.required")
		case utf8.RuneCountInString(row.Name) > maxNameLen || !oneLine(row.Name):
			f.add(p+"name", "err.name.invalid")
		}
		if !contains(relations, row.Relation) {
			f.add(p+"relation", "err.relation.required")
		}
		age, err := strconv.Atoi(row.Age)
		switch {
		case row.Age == "":
			f.add(p+"age", "err.age.required")
		case err != nil || age < 0 || age > maxAge:
			f.add(p+"age", "err.age.invalid")
		}
		m.Age = age
		a.Household = append(a.Household, m)
	}
	for i := range f.Income {
		fld := &f.Income[i]
		fld.Value = strings.TrimSpace(v.Get("income-" + fld.Type))
		n, key := parseAmount(fld.Value, maxIncome)
		if key != "" {
			f.add("income-"+fld.Type, key)
		}
		a.Income[fld.Type] = n
	}
	for i := range f.Expenses {
		fld := &f.Expenses[i]
		fld.Value = strings.TrimSpace(v.Get("expense-" + fld.Type))
		n, key := parseAmount(fld.Value, maxExpense)
		if key != "" {
			f.add("expense-"+fld.Type, key)
		}
		a.Expenses[fld.Type] = n
	}
	f.Housing = v.Get("housing")
	a.Housing = f.Housing
	if !contains(housingTypes, f.Housing) {
		f.add("housing-"+housingTypes[0], "err.housing.required")
	}
	f.Other = strings.ReplaceAll(strings.TrimSpace(v.Get("other")), "\r\n", "\n")
	a.Other = f.Other
	if utf8.RuneCountInString(f.Other) > maxOtherLen || !text(f.Other) {
		f.add("other", "err.other.invalid")
	}
	return f, a
}

// checkMonth returns the message key of what is wrong with month, or "".
func checkMonth(month string, now time.Time) string {
	if month == "" {
		return "err.month.required"
	}
	t, err := time.Parse("2006-01", month)
	if err != nil {
		return "err.month.invalid"
	}
	opts := allowedMonths(now)
	for _, o := range opts {
		if o.Value == month {
			return ""
		}
	}
	if t.Format("2006-01") < opts[0].Value {
		return "err.month.past"
	}
	return "err.month.future"
}

// parseAmount reads whole kronor. Spaces as thousands separators are
// accepted because people type "12 500"; decimals, signs and letters are
// not. Empty is zero.
func parseAmount(s string, max int64) (int64, string) {
	s = strings.Map(func(r rune) rune {
		if r == ' ' || r == '\u00a0' || r == '\u202f' {
			return -1
		}
		return r
	}, s)
	if s == "" {
		return 0, ""
	}
	if strings.HasPrefix(s, "-") || strings.HasPrefix(s, "−") {
		return 0, "err.amount.negative"
	}
	if len(s) > 12 {
		return 0, "err.amount.toolarge"
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return 0, "err.amount.invalid"
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, "err.amount.invalid"
	}
	if n > max {
		return 0, "err.amount.toolarge"
	}
	return n, ""
}

// formatSEK writes kronor with a space every three digits, "12 500".
func formatSEK(n int64) string {
	s := strconv.FormatInt(n, 10)
	var b strings.Builder
	for i, r := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(' ')
		}
		b.WriteRune(r)
	}
	return b.String()
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func oneLine(s string) bool {
	for _, r := range s {
		if !unicode.IsPrint(r) {
			return false
		}
	}
	return utf8.ValidString(s)
}

func text(s string) bool {
	for _, r := range s {
		if r == '\n' || r == '\t' {
			continue
		}
		if !unicode.IsPrint(r) && !unicode.IsSpace(r) {
			return false
		}
	}
	return utf8.ValidString(s)
}
