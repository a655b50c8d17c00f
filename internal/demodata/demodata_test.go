package demodata

import (
	"regexp"
	"strconv"
	"testing"
)

func TestCustomersAreValidAndDeterministic(t *testing.T) {
	t.Parallel()
	a, b := Customers(), Customers()
	if len(a.Rows) != NumCustomers {
		t.Fatalf("rows = %d, want %d", len(a.Rows), NumCustomers)
	}
	email := regexp.MustCompile(`^[a-z]+\.[a-z]+[0-9]+@[a-z.]+\.[a-z]+$`)
	phone := regexp.MustCompile(`^\([2-9][0-9]{2}\) [2-9][0-9]{2}-[0-9]{4}$`)
	ssn := regexp.MustCompile(`^([0-9]{3})-([0-9]{2})-([0-9]{4})$`)
	for i, row := range a.Rows {
		if row["email"] != b.Rows[i]["email"] || row["card_number"] != b.Rows[i]["card_number"] {
			t.Fatalf("row %d differs between runs", i)
		}
		if !email.MatchString(row["email"].(string)) {
			t.Errorf("row %d: bad email %q", i, row["email"])
		}
		if !phone.MatchString(row["phone"].(string)) {
			t.Errorf("row %d: bad phone %q", i, row["phone"])
		}
		m := ssn.FindStringSubmatch(row["ssn"].(string))
		if m == nil {
			t.Fatalf("row %d: bad ssn format", i)
		}
		area, _ := strconv.Atoi(m[1])
		if area == 0 || area == 666 || area >= 900 || m[2] == "00" || m[3] == "0000" {
			t.Errorf("row %d: ssn outside issued ranges", i)
		}
		if !LuhnValid(row["card_number"].(string)) {
			t.Errorf("row %d: card fails Luhn", i)
		}
	}
}

func TestLuhn(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in   string
		want bool
	}{{"4111 1111 1111 1111", true}, {"4111 1111 1111 1112", false}, {"79927398713", true}, {"", false}} {
		if got := LuhnValid(tc.in); got != tc.want {
			t.Errorf("LuhnValid(%q) = %v, want %v", tc.in, got, tc.want)
		}
	}
}
