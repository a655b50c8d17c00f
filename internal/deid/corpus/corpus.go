// Package corpus generates the seeded table that the de-identification
// benchmarks and recall checks run on. The same seed gives the same table, and
// every PII value planted in it is recorded, so recall is measured against a
// known ground truth rather than against another detector.
package corpus

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"
)

// Seeded is one planted PII value.
type Seeded struct {
	Row, Col int
	InfoType string // DLP infoType name
	Value    string
}

// Corpus is a generated table plus its ground truth.
type Corpus struct {
	Headers []string
	Rows    [][]any
	Seeded  []Seeded
	// TextBytes is the total length of the string cells.
	TextBytes int64
}

// InfoTypes are the six infoTypes the corpus plants.
var InfoTypes = []string{"EMAIL_ADDRESS", "PHONE_NUMBER", "CREDIT_CARD_NUMBER", "US_SOCIAL_SECURITY_NUMBER", "IP_ADDRESS", "IBAN_CODE"}

var words = strings.Fields(`the order was shipped to customer after review and approval of the
invoice by finance team member who confirmed payment status in region west north east south
quarterly revenue report shows growth across product lines including storage compute network
ticket escalated priority high medium low resolved pending closed reopened duplicate feature
request bug fix release version deploy rollback incident postmortem owner analyst manager`)

var first = strings.Fields("james mary john patricia robert jennifer michael linda david elizabeth maria ahmed wei yuki olga")
var last = strings.Fields("smith johnson williams brown jones garcia miller davis martinez lopez nguyen kim muller rossi")
var domains = strings.Fields("example.com mail.example.org corp.example.net example.co.uk test.example.io")

// Generate returns a table of rows rows with a fixed column layout: an int64
// id, a name, a status word, a float amount, and three free-text columns;
// about one text cell in eight carries one or two seeded PII values.
func Generate(seed uint64, rows int) *Corpus {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	c := &Corpus{Headers: []string{"id", "customer", "status", "amount", "note", "comment", "contact"}}
	for i := 0; i < rows; i++ {
		row := []any{
			int64(100000 + i),
			cap1(first[r.IntN(len(first))]) + " " + cap1(last[r.IntN(len(last))]),
			[]string{"open", "closed", "pending"}[r.IntN(3)],
			float64(r.IntN(1000000)) / 100,
			nil, nil, nil,
		}
		for col := 4; col < 7; col++ {
			row[col] = c.textCell(r, i, col)
		}
		for _, v := range row {
			if s, ok := v.(string); ok {
				c.TextBytes += int64(len(s))
			}
		}
		c.Rows = append(c.Rows, row)
	}
	return c
}

func cap1(s string) string { return strings.ToUpper(s[:1]) + s[1:] }

func (c *Corpus) sentence(r *rand.Rand, n int) string {
	var b strings.Builder
	for k := 0; k < n; k++ {
		if k > 0 {
			b.WriteByte(' ')
		}
		switch r.IntN(14) {
		case 0:
			fmt.Fprintf(&b, "#%d", r.IntN(100000))
		case 1:
			fmt.Fprintf(&b, "2024-%02d-%02d", 1+r.IntN(12), 1+r.IntN(28))
		case 2:
			fmt.Fprintf(&b, "$%d.%02d", r.IntN(5000), r.IntN(100))
		case 3:
			fmt.Fprintf(&b, "v%d.%d.%d", r.IntN(5), r.IntN(20), r.IntN(50))
		default:
			b.WriteString(words[r.IntN(len(words))])
		}
	}
	return b.String()
}

func (c *Corpus) textCell(r *rand.Rand, row, col int) string {
	if r.IntN(8) != 0 {
		return c.sentence(r, 4+r.IntN(14))
	}
	parts := []string{c.sentence(r, 2+r.IntN(6))}
	for k := 0; k < 1+r.IntN(2); k++ {
		it := InfoTypes[r.IntN(len(InfoTypes))]
		v := value(r, it)
		c.Seeded = append(c.Seeded, Seeded{Row: row, Col: col, InfoType: it, Value: v})
		parts = append(parts, v, c.sentence(r, 1+r.IntN(5)))
	}
	return strings.Join(parts, " ")
}

func value(r *rand.Rand, it string) string {
	switch it {
	case "EMAIL_ADDRESS":
		return fmt.Sprintf("%s.%s%d@%s", first[r.IntN(len(first))], last[r.IntN(len(last))], r.IntN(100), domains[r.IntN(len(domains))])
	case "PHONE_NUMBER":
		a, b, d := 201+r.IntN(700), 200+r.IntN(800), r.IntN(10000)
		switch r.IntN(5) {
		case 0:
			return fmt.Sprintf("(%03d) %03d-%04d", a, b, d)
		case 1:
			return fmt.Sprintf("%03d-%03d-%04d", a, b, d)
		case 2:
			return fmt.Sprintf("+1 %03d %03d %04d", a, b, d)
		case 3:
			return fmt.Sprintf("%03d.%03d.%04d", a, b, d)
		default:
			return fmt.Sprintf("+44 20 %04d %04d", r.IntN(10000), d)
		}
	case "CREDIT_CARD_NUMBER":
		return card(r)
	case "US_SOCIAL_SECURITY_NUMBER":
		area := 1 + r.IntN(899)
		if area == 666 {
			area = 667
		}
		return fmt.Sprintf("%03d-%02d-%04d", area, 1+r.IntN(99), 1+r.IntN(9999))
	case "IP_ADDRESS":
		if r.IntN(4) == 0 {
			return fmt.Sprintf("2001:db8:%x:%x::%x", r.IntN(65536), r.IntN(65536), 1+r.IntN(65535))
		}
		return fmt.Sprintf("%d.%d.%d.%d", 1+r.IntN(223), r.IntN(256), r.IntN(256), 1+r.IntN(254))
	case "IBAN_CODE":
		return iban(r)
	}
	panic("unknown infoType " + it)
}

func card(r *rand.Rand) string {
	var d [16]int
	if r.IntN(2) == 0 {
		d[0] = 4
	} else {
		d[0], d[1] = 5, 1+r.IntN(5)
	}
	for i := 1; i < 15; i++ {
		if i == 1 && d[0] == 5 {
			continue
		}
		d[i] = r.IntN(10)
	}
	sum := 0
	for i := 0; i < 15; i++ {
		v := d[14-i]
		if i%2 == 0 {
			v *= 2
			if v > 9 {
				v -= 9
			}
		}
		sum += v
	}
	d[15] = (10 - sum%10) % 10
	var b strings.Builder
	sep := []string{"", " ", "-"}[r.IntN(3)]
	for i, v := range d {
		if i > 0 && i%4 == 0 {
			b.WriteString(sep)
		}
		b.WriteByte(byte('0' + v))
	}
	return b.String()
}

func iban(r *rand.Rand) string {
	var country, bban string
	switch r.IntN(3) {
	case 0:
		country, bban = "DE", digits(r, 18)
	case 1:
		country, bban = "GB", "WEST"+digits(r, 14)
	default:
		country, bban = "FR", digits(r, 23)
	}
	rem := 0
	for _, ch := range bban + country + "00" {
		if ch >= 'A' && ch <= 'Z' {
			rem = (rem*100 + int(ch-'A'+10)) % 97
		} else {
			rem = (rem*10 + int(ch-'0')) % 97
		}
	}
	v := fmt.Sprintf("%s%02d%s", country, 98-rem, bban)
	if r.IntN(2) == 0 {
		return v
	}
	var b strings.Builder
	for i := 0; i < len(v); i += 4 {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(v[i:min(i+4, len(v))])
	}
	return b.String()
}

func digits(r *rand.Rand, n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte('0' + r.IntN(10))
	}
	return string(b)
}

// Recall counts the seeded values that no longer appear in the output cell
// they were planted in, overall and by infoType ([found, total]).
func (c *Corpus) Recall(out [][]any) (found, total int, byType map[string][2]int) {
	byType = map[string][2]int{}
	for _, s := range c.Seeded {
		total++
		cell, _ := out[s.Row][s.Col].(string)
		t := byType[s.InfoType]
		t[1]++
		if !strings.Contains(cell, s.Value) {
			found++
			t[0]++
		}
		byType[s.InfoType] = t
	}
	return found, total, byType
}

// JSONL renders the table as JSON Lines, one object per row in header order.
func (c *Corpus) JSONL() []byte {
	var b []byte
	for _, row := range c.Rows {
		b = append(b, '{')
		for i, h := range c.Headers {
			if i > 0 {
				b = append(b, ',')
			}
			k, _ := json.Marshal(h)
			v, _ := json.Marshal(row[i])
			b = append(b, k...)
			b = append(b, ':')
			b = append(b, v...)
		}
		b = append(b, '}', '\n')
	}
	return b
}

// RecallJSONL is Recall over JSON Lines output (one object per row).
func (c *Corpus) RecallJSONL(out []byte) (found, total int, err error) {
	lines := strings.Split(strings.TrimRight(string(out), "\n"), "\n")
	if len(lines) != len(c.Rows) {
		return 0, 0, fmt.Errorf("got %d lines, want %d", len(lines), len(c.Rows))
	}
	for _, s := range c.Seeded {
		total++
		var m map[string]any
		if err := json.Unmarshal([]byte(lines[s.Row]), &m); err != nil {
			return 0, 0, fmt.Errorf("line %d: %v", s.Row+1, err)
		}
		cell, _ := m[c.Headers[s.Col]].(string)
		if !strings.Contains(cell, s.Value) {
			found++
		}
	}
	return found, total, nil
}

// FalsePositives counts string cells that carry no seeded value but changed
// anyway (something in clean text was taken for PII), and the number of such
// clean string cells.
func (c *Corpus) FalsePositives(out [][]any) (changed, clean int) {
	seeded := map[[2]int]bool{}
	for _, s := range c.Seeded {
		seeded[[2]int{s.Row, s.Col}] = true
	}
	for r, row := range c.Rows {
		for i, v := range row {
			s, ok := v.(string)
			if !ok || seeded[[2]int{r, i}] {
				continue
			}
			clean++
			if o, _ := out[r][i].(string); o != s {
				changed++
			}
		}
	}
	return changed, clean
}
