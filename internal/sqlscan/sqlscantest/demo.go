// Package sqlscantest provides in-memory catalogs for tests: the demo
// tables the local gateway ships and the tables the SQL corpus uses.
package sqlscantest

import "github.com/querygate/querygate/internal/sqlscan"

// DefaultProject is the project of the local gateway.
const DefaultProject = "querygate-local"

func col(name, typ string) sqlscan.Column {
	return sqlscan.Column{Name: name, Type: typ, Mode: "NULLABLE"}
}

func ref(project, dataset, table string) sqlscan.TableRef {
	return sqlscan.TableRef{Project: project, Dataset: dataset, Table: table}
}

// Customers is demo.customers.
func Customers() *sqlscan.TableMeta {
	return &sqlscan.TableMeta{
		Ref:  ref(DefaultProject, "demo", "customers"),
		Type: "TABLE",
		Columns: []sqlscan.Column{
			col("customer_id", "INT64"), col("full_name", "STRING"), col("email", "STRING"),
			col("phone", "STRING"), col("ssn", "STRING"), col("card_number", "STRING"),
			col("street_address", "STRING"), col("city", "STRING"), col("notes", "STRING"),
			col("created_at", "TIMESTAMP"),
		},
		NumBytes: 2_000_000, NumRows: 10_000,
	}
}

// Orders is demo.orders.
func Orders() *sqlscan.TableMeta {
	return &sqlscan.TableMeta{
		Ref:  ref(DefaultProject, "demo", "orders"),
		Type: "TABLE",
		Columns: []sqlscan.Column{
			col("order_id", "INT64"), col("customer_id", "INT64"), col("amount", "NUMERIC"),
			col("status", "STRING"), col("notes", "STRING"), col("ordered_at", "TIMESTAMP"),
		},
		NumBytes: 5_000_000, NumRows: 100_000,
	}
}

// DemoTables are demo.customers, demo.orders and two views:
// demo.customer_contacts (over customers, with PII) and demo.contact_emails
// (a view over that view).
func DemoTables() []*sqlscan.TableMeta {
	return []*sqlscan.TableMeta{
		Customers(), Orders(),
		{
			Ref:     ref(DefaultProject, "demo", "customer_contacts"),
			Type:    "VIEW",
			ViewSQL: "SELECT customer_id, full_name AS name, LOWER(email) AS email, city FROM demo.customers",
			Columns: []sqlscan.Column{col("customer_id", "INT64"), col("name", "STRING"), col("email", "STRING"), col("city", "STRING")},
		},
		{
			// No schema: Analyze derives it from the definition.
			Ref:     ref(DefaultProject, "demo", "contact_emails"),
			Type:    "VIEW",
			ViewSQL: "SELECT c.email, o.amount FROM `querygate-local.demo.customer_contacts` AS c JOIN demo.orders AS o USING (customer_id)",
		},
	}
}

// Demo returns a catalog with DemoTables.
func Demo() *sqlscan.MemoryCatalog { return sqlscan.NewMemoryCatalog(DemoTables()...) }
