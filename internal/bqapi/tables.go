package bqapi

import (
	"errors"
	"net/http"
	"strconv"

	"github.com/querygate/querygate/internal/intake"
	"github.com/querygate/querygate/internal/session"
)

// The results dataset is virtual: its tables are the caller's succeeded
// sessions, each holding its masked result, the destinationTable of the
// job. No other dataset's data is served through this door, so no table's
// data is reachable except through a query that passed policy; tables.get
// on a source table serves its schema only (sources.go).

func (s *Server) datasetResource(c *call) map[string]any {
	return map[string]any{
		"kind":             "bigquery#dataset",
		"id":               c.project + ":" + ResultsDataset,
		"datasetReference": datasetRef{ProjectID: c.project, DatasetID: ResultsDataset},
		"location":         s.location(""),
		"friendlyName":     "querygate results",
		"description":      "Masked results of your querygate sessions, one table per succeeded query, named after its session id.",
	}
}

// listDatasets: GET /projects/{project}/datasets.
func (s *Server) listDatasets(c *call) *apiError {
	d := s.datasetResource(c)
	writeJSON(c.w, http.StatusOK, map[string]any{
		"kind": "bigquery#datasetList",
		"datasets": []map[string]any{{
			"kind": "bigquery#dataset", "id": d["id"], "datasetReference": d["datasetReference"], "location": d["location"],
			"friendlyName": d["friendlyName"],
		}},
	})
	return nil
}

func (s *Server) resultsDataset(c *call) *apiError {
	ds := c.r.PathValue("dataset")
	if ds != ResultsDataset {
		if !datasetIDRE.MatchString(ds) {
			return badRequest("the dataset id is not valid")
		}
		return notFound("Not found: Dataset " + c.project + ":" + ds + " (through the BigQuery API querygate serves only " +
			ResultsDataset + ", the results of your queries; query other tables with SQL)")
	}
	return nil
}

// getDataset: GET /projects/{project}/datasets/{dataset}.
func (s *Server) getDataset(c *call) *apiError {
	if e := s.resultsDataset(c); e != nil {
		return e
	}
	writeJSON(c.w, http.StatusOK, s.datasetResource(c))
	return nil
}

// listTables: GET /projects/{project}/datasets/{dataset}/tables, the
// caller's sessions (as the sessions API lists them) that have a result.
func (s *Server) listTables(c *call) *apiError {
	if e := s.resultsDataset(c); e != nil {
		return e
	}
	q := session.ListQuery{Reader: intake.ReaderKey(c.p), PageToken: c.r.URL.Query().Get("pageToken"), PageSize: 50}
	if v := c.r.URL.Query().Get("maxResults"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return badRequest("maxResults must be a positive integer")
		}
		q.PageSize = min(n, 1000)
	}
	res, err := s.Intake.Store.List(c.ctx(), q)
	if errors.Is(err, session.ErrBadPageToken) {
		return badRequest("pageToken is not one this API issued")
	}
	if err != nil {
		s.log().ErrorContext(c.ctx(), "list sessions failed", "error", err.Error())
		return &apiError{Code: http.StatusServiceUnavailable, Reason: reasonBackendError, Message: "tables could not be listed; retry later"}
	}
	tables := []map[string]any{}
	for _, x := range res.Sessions {
		if x.Status != session.StatusSucceeded {
			continue
		}
		ref := tableRef{ProjectID: c.project, DatasetID: ResultsDataset, TableID: x.ID}
		tables = append(tables, map[string]any{
			"kind": "bigquery#table", "id": c.project + ":" + ResultsDataset + "." + x.ID, "tableReference": ref,
			"type": "TABLE", "creationTime": millis(x.CreatedAt),
		})
	}
	out := map[string]any{"kind": "bigquery#tableList", "tables": tables, "totalItems": len(tables)}
	if res.NextPageToken != "" {
		out["nextPageToken"] = res.NextPageToken
	}
	writeJSON(c.w, http.StatusOK, out)
	return nil
}

// resultTable loads the session a results table names, under the sessions
// API's read rule (requester, approvers, auditors); anything else is
// "not found".
func (s *Server) resultTable(c *call) (*session.Session, *apiError) {
	if e := s.resultsDataset(c); e != nil {
		return nil, e
	}
	id := c.r.PathValue("table")
	missing := notFound("Not found: Table " + c.project + ":" + ResultsDataset + "." + id)
	if !tableIDRE.MatchString(id) {
		return nil, badRequest("the table id is not valid")
	}
	sess, err := s.Intake.Store.Get(c.ctx(), id)
	if errors.Is(err, session.ErrNotFound) || (err == nil && !s.Intake.CanRead(c.p, sess)) {
		return nil, missing
	}
	if err != nil {
		s.log().ErrorContext(c.ctx(), "get session failed", "error", err.Error())
		return nil, &apiError{Code: http.StatusServiceUnavailable, Reason: reasonBackendError, Message: "the table could not be read; retry later"}
	}
	if sess.Status != session.StatusSucceeded || sess.Result == nil {
		return nil, missing
	}
	return sess, nil
}

// getTable: GET .../tables/{table}. In the results dataset, masked columns
// are served as STRING and say so in their description; any other table is
// a source table (sources.go), described when Sources is set.
func (s *Server) getTable(c *call) *apiError {
	if ds := c.r.PathValue("dataset"); ds != ResultsDataset && s.Sources != nil {
		return s.getSourceTable(c, ds, c.r.PathValue("table"))
	}
	sess, e := s.resultTable(c)
	if e != nil {
		return e
	}
	res := sess.Result
	ref := tableRef{ProjectID: c.project, DatasetID: ResultsDataset, TableID: sess.ID}
	desc := "Masked result of querygate session " + sess.ID + " (SQL sha256 " + sess.SQLSHA256 + ")."
	if res.Truncated {
		desc += " Truncated: the query returned " + strconv.FormatInt(res.TotalRows, 10) + " rows, querygate kept " + strconv.FormatInt(res.StoredRows, 10) + "."
	}
	writeJSON(c.w, http.StatusOK, map[string]any{
		"kind":             "bigquery#table",
		"id":               c.project + ":" + ResultsDataset + "." + sess.ID,
		"tableReference":   ref,
		"type":             "TABLE",
		"schema":           tableSchema{Fields: servedSchema(res)},
		"numRows":          strconv.FormatInt(res.StoredRows, 10),
		"creationTime":     millis(sess.CreatedAt),
		"lastModifiedTime": millis(sess.UpdatedAt),
		"location":         s.location(""),
		"description":      desc,
	})
	return nil
}

// listRows: GET .../tables/{table}/data (tabledata.list).
func (s *Server) listRows(c *call) *apiError {
	sess, e := s.resultTable(c)
	if e != nil {
		return e
	}
	w, e := windowOf(c.r.URL.Query())
	if e != nil {
		return e
	}
	page, e := s.window(c, sess, servedSchema(sess.Result), w)
	if e != nil {
		return e
	}
	out := map[string]any{
		"kind":      "bigquery#tableDataList",
		"totalRows": strconv.FormatInt(sess.Result.StoredRows, 10),
		"rows":      page.rows,
	}
	if page.next != "" {
		out["pageToken"] = page.next
	}
	writeJSON(c.w, http.StatusOK, out)
	return nil
}
