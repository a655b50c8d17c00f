package warehouse

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"time"

	"cloud.google.com/go/bigquery"
	"google.golang.org/api/googleapi"
)

// DeleteResult deletes the result a finished job left behind, once the
// session is over; the unmasked copy must not outlive its use.
//   - With resultsDataset (the Query.ResultsDataset the job ran with), the
//     table named after the job there is deleted, without looking the job
//     up; with WithJobRecordDeletion, the job's record (where the embedded
//     BigQuery keeps another copy of the rows) is deleted too.
//   - The embedded BigQuery (goccy/bigquery-emulator) keeps each job's
//     result in a dataset named after the job, and again in the job's
//     record; the dataset is deleted with its contents, then the job.
//     Left in place, every such dataset also slows each later query, which
//     builds a catalog of all of them.
//   - BigQuery's own anonymous result table (a dataset whose name starts
//     with "_") is not ours to delete; it expires after about 24 hours.
//
// A result already gone is not an error. Errors carry no cell values.
func (b *BigQuery) DeleteResult(ctx context.Context, jobID, location, resultsDataset string) error {
	if resultsDataset != "" {
		proj, ds := b.client.Project(), resultsDataset
		if i := strings.IndexByte(ds, '.'); i >= 0 {
			proj, ds = ds[:i], ds[i+1:]
		}
		if err := b.client.DatasetInProject(proj, ds).Table(jobID).Delete(ctx); err != nil && !isNotFound(err) {
			return classify("delete job result", err)
		}
		if b.deleteJobRecords {
			return b.deleteJobRecord(ctx, jobID, location)
		}
		return nil
	}
	job, err := b.client.JobFromIDLocation(ctx, jobID, location)
	if err != nil {
		if isNotFound(err) {
			return nil
		}
		return classify("find job for cleanup", err)
	}
	var dst *bigquery.Table
	if cfg, err := job.Config(); err == nil {
		if qc, ok := cfg.(*bigquery.QueryConfig); ok {
			dst = qc.Dst
		}
	}
	switch {
	case dst != nil && strings.HasPrefix(dst.DatasetID, "_"):
		return nil
	case dst != nil && dst.TableID == jobID && dst.DatasetID != jobID:
		err = dst.Delete(ctx)
	case dst == nil || dst.DatasetID == jobID:
		proj := job.ProjectID()
		if proj == "" {
			proj = b.client.Project()
		}
		err = b.client.DatasetInProject(proj, jobID).DeleteWithContents(ctx)
		if err == nil || isNotFound(err) {
			// The emulator also keeps the whole result in the job's own
			// record, and lists every job in its project's record.
			err = job.Delete(ctx)
		}
	default:
		// Some other destination: not a per-job result, keep it.
		return nil
	}
	if err != nil && !isNotFound(err) {
		return classify("delete job result", err)
	}
	return nil
}

// deleteJobRecord deletes the job's record; one already gone is no error.
func (b *BigQuery) deleteJobRecord(ctx context.Context, jobID, location string) error {
	job, err := b.client.JobFromIDLocation(ctx, jobID, location)
	if err == nil {
		err = job.Delete(ctx)
	}
	if err != nil && !isNotFound(err) {
		return classify("delete job record", err)
	}
	return nil
}

// EnsureDataset creates the dataset ("project.dataset" or "dataset") unless
// it exists, with tables expiring after tableExpiry (0: never). The local
// gateway creates its results dataset so; in the cloud Terraform does.
func (b *BigQuery) EnsureDataset(ctx context.Context, dataset string, tableExpiry time.Duration) error {
	proj, ds := b.client.Project(), dataset
	if i := strings.IndexByte(ds, '.'); i >= 0 {
		proj, ds = ds[:i], ds[i+1:]
	}
	d := b.client.DatasetInProject(proj, ds)
	if _, err := d.Metadata(ctx); err == nil {
		return nil
	} else if !isNotFound(err) {
		return classify("look up dataset", err)
	}
	err := d.Create(ctx, &bigquery.DatasetMetadata{DefaultTableExpiration: tableExpiry})
	if err != nil && !isDuplicate(err) {
		return classify("create dataset", err)
	}
	return nil
}

func isNotFound(err error) bool {
	var ge *googleapi.Error
	return errors.As(err, &ge) && ge.Code == http.StatusNotFound
}
