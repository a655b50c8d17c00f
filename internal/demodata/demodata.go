// Package demodata generates the demo dataset the local gateway ships:
// demo.customers and demo.orders. Generation is deterministic (a fixed seed),
// and every identifier is valid: Luhn-correct card numbers, SSNs in the
// issued ranges, well-formed emails and phone numbers. Some customers'
// free-text notes embed PII so that inspection-based masking has work to do.
package demodata

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"time"
)

// Column is a column of a demo table.
type Column struct {
	Name string
	Type string // BigQuery standard SQL type
}

// Table is a generated demo table. Row values are string, int64, float64 or
// nil; TIMESTAMP values are strings in BigQuery's canonical format.
type Table struct {
	Dataset string
	Name    string
	Columns []Column
	Rows    []map[string]any
}

// Sizes of the demo tables. The embedded BigQuery runs a join as a nested
// loop that calls a Go function for every pair of rows (go-zetasqlite
// translates "=" into a function call, which SQLite cannot index), about
// 2.5 to 4 µs a pair on two cores: with 2,000 customers and 5,000 orders
// (10 million pairs) the first join an analyst tries took 10 to 24 s. At
// 100 and 1,000 (100,000 pairs) it answers in well under a second
// (BenchmarkDemoJoin in internal/bqlocal, docs/performance.md), and every
// kind of customer note still appears 20 times.
const (
	NumCustomers = 100
	NumOrders    = 1000
)

var firstNames = []string{"Alice", "Bruno", "Chen", "Dana", "Emeka", "Farah", "Goran", "Hana", "Ivan", "Jun", "Kofi", "Lena", "Mateo", "Nadia", "Omar", "Priya", "Quinn", "Rosa", "Sven", "Tara", "Umar", "Vera", "Wei", "Ximena", "Yusuf", "Zoe"}
var lastNames = []string{"Abbott", "Baker", "Castillo", "Dubois", "Eriksen", "Fischer", "Garcia", "Haddad", "Ito", "Jensen", "Kowalski", "Lopez", "Murphy", "Nakamura", "Okafor", "Petrov", "Quintero", "Rossi", "Schmidt", "Tanaka", "Usman", "Varga", "Walsh", "Xu", "Yilmaz", "Zhang"}
var streets = []string{"Maple St", "Oak Ave", "Pine Rd", "Cedar Ln", "Elm St", "Birch Blvd", "Willow Way", "Harbor Dr"}
var cities = []string{"Springfield", "Riverton", "Lakewood", "Fairview", "Georgetown", "Madison", "Clinton", "Salem"}
var domains = []string{"example.com", "example.org", "mail.example.net", "corp.example"}
var statuses = []string{"placed", "shipped", "delivered", "returned", "cancelled"}

// Customers generates demo.customers.
func Customers() *Table {
	r := rand.New(rand.NewPCG(20261128, 1))
	t := &Table{Dataset: "demo", Name: "customers", Columns: []Column{
		{"customer_id", "INT64"}, {"full_name", "STRING"}, {"email", "STRING"}, {"phone", "STRING"},
		{"ssn", "STRING"}, {"card_number", "STRING"}, {"street_address", "STRING"}, {"city", "STRING"},
		{"notes", "STRING"}, {"created_at", "TIMESTAMP"},
	}}
	base := time.Date(2023, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := 1; i <= NumCustomers; i++ {
		first := firstNames[r.IntN(len(firstNames))]
		last := lastNames[r.IntN(len(lastNames))]
		email := fmt.Sprintf("%s.%s%d@%s", strings.ToLower(first), strings.ToLower(last), i, domains[r.IntN(len(domains))])
		phone := Phone(r)
		ssn := SSN(r)
		card := Card(r)
		notes := ""
		switch i % 5 {
		case 0:
			notes = fmt.Sprintf("Prefers contact at %s after 5pm.", phone)
		case 1:
			notes = fmt.Sprintf("Asked to update billing email to %s; verified with SSN %s.", email, ssn)
		case 2:
			notes = "Loyal customer, no open tickets."
		case 3:
			notes = fmt.Sprintf("Card on file %s flagged for review.", card)
		case 4:
			notes = "Requested paper invoices."
		}
		t.Rows = append(t.Rows, map[string]any{
			"customer_id":    int64(i),
			"full_name":      first + " " + last,
			"email":          email,
			"phone":          phone,
			"ssn":            ssn,
			"card_number":    card,
			"street_address": fmt.Sprintf("%d %s", 10+r.IntN(9900), streets[r.IntN(len(streets))]),
			"city":           cities[r.IntN(len(cities))],
			"notes":          notes,
			"created_at":     base.Add(time.Duration(i) * 97 * time.Minute).Format("2006-01-02 15:04:05"),
		})
	}
	return t
}

// Orders generates demo.orders.
func Orders() *Table {
	r := rand.New(rand.NewPCG(20261128, 2))
	t := &Table{Dataset: "demo", Name: "orders", Columns: []Column{
		{"order_id", "INT64"}, {"customer_id", "INT64"}, {"amount", "FLOAT64"}, {"status", "STRING"},
		{"notes", "STRING"}, {"ordered_at", "TIMESTAMP"},
	}}
	base := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := 1; i <= NumOrders; i++ {
		notes := ""
		if i%7 == 0 {
			notes = "Gift wrap requested."
		}
		t.Rows = append(t.Rows, map[string]any{
			"order_id":    int64(i),
			"customer_id": int64(1 + r.IntN(NumCustomers)),
			"amount":      float64(100+r.IntN(99900)) / 100,
			"status":      statuses[r.IntN(len(statuses))],
			"notes":       notes,
			"ordered_at":  base.Add(time.Duration(i) * 53 * time.Minute).Format("2006-01-02 15:04:05"),
		})
	}
	return t
}

// Tables returns every demo table.
func Tables() []*Table { return []*Table{Customers(), Orders()} }

// SSN returns a US social security number in the issued ranges: area
// 001-899 except 666, group 01-99, serial 0001-9999.
func SSN(r *rand.Rand) string {
	area := 1 + r.IntN(899)
	if area == 666 {
		area = 667
	}
	return fmt.Sprintf("%03d-%02d-%04d", area, 1+r.IntN(99), 1+r.IntN(9999))
}

// Phone returns a North American number with a valid area code and
// exchange (neither starts with 0 or 1), formatted (NXX) NXX-XXXX.
func Phone(r *rand.Rand) string {
	return fmt.Sprintf("(%d%02d) %d%02d-%04d", 2+r.IntN(8), r.IntN(100), 2+r.IntN(8), r.IntN(100), r.IntN(10000))
}

// Card returns a 16-digit Luhn-valid card number with a Visa or Mastercard
// prefix, formatted in groups of four.
func Card(r *rand.Rand) string {
	d := make([]int, 16)
	if r.IntN(2) == 0 {
		d[0] = 4
	} else {
		d[0], d[1] = 5, 1+r.IntN(5)
	}
	start := 1
	if d[0] == 5 {
		start = 2
	}
	for i := start; i < 15; i++ {
		d[i] = r.IntN(10)
	}
	d[15] = LuhnCheckDigit(d[:15])
	var b strings.Builder
	for i, v := range d {
		if i > 0 && i%4 == 0 {
			b.WriteByte(' ')
		}
		b.WriteByte(byte('0' + v))
	}
	return b.String()
}

// LuhnCheckDigit returns the digit that makes payload+digit Luhn-valid.
func LuhnCheckDigit(payload []int) int {
	sum := 0
	for i := len(payload) - 1; i >= 0; i-- {
		v := payload[i]
		if (len(payload)-1-i)%2 == 0 {
			v *= 2
			if v > 9 {
				v -= 9
			}
		}
		sum += v
	}
	return (10 - sum%10) % 10
}

// LuhnValid reports whether the digits of s (other characters ignored) pass
// the Luhn check.
func LuhnValid(s string) bool {
	sum, n := 0, 0
	for i := len(s) - 1; i >= 0; i-- {
		c := s[i]
		if c < '0' || c > '9' {
			continue
		}
		v := int(c - '0')
		if n%2 == 1 {
			v *= 2
			if v > 9 {
				v -= 9
			}
		}
		sum += v
		n++
	}
	return n > 0 && sum%10 == 0
}
