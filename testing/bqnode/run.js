// Runs one query through querygate's BigQuery front door with Google's
// unmodified Node.js client (@google-cloud/bigquery), configured only with
// apiEndpoint and an auth client that sends the agent's ID token.
//
// Environment: QG_ENDPOINT (the gateway's base URL), QG_TOKEN (an ID token),
// QG_PROJECT. Argument: a JSON object {"sql", "labels", "mode"} where mode
// is "query" (bigquery.query, the jobs.query path) or "job"
// (createQueryJob, then job.getQueryResults). Prints one JSON line:
// {"ok": true, "jobId", "rows", "schema"} or
// {"ok": false, "code", "reason", "message"}.
'use strict';

const {BigQuery} = require('@google-cloud/bigquery');
const {OAuth2Client} = require('google-auth-library');

function need(name) {
  const v = process.env[name];
  if (!v) {
    throw new Error(`${name} is not set`);
  }
  return v;
}

async function main() {
  const spec = JSON.parse(process.argv[2] || '{}');
  const auth = new OAuth2Client();
  auth.setCredentials({
    access_token: need('QG_TOKEN'),
    expiry_date: Date.now() + 3600 * 1000,
  });
  const bigquery = new BigQuery({
    projectId: need('QG_PROJECT'),
    apiEndpoint: need('QG_ENDPOINT'),
    authClient: auth,
  });
  const query = {query: spec.sql, labels: spec.labels, useLegacySql: false};
  let rows;
  let jobId;
  let schema;
  if (spec.mode === 'job') {
    const [job] = await bigquery.createQueryJob(query);
    jobId = job.id;
    const [r, , resp] = await job.getQueryResults({autoPaginate: true});
    rows = r;
    schema = resp && resp.schema;
  } else {
    const [r, , resp] = await bigquery.query(query);
    rows = r;
    schema = resp && resp.schema;
  }
  return {ok: true, jobId, rows, schema};
}

main().then(
  out => {
    process.stdout.write(JSON.stringify(out) + '\n');
  },
  err => {
    const first = (err.errors && err.errors[0]) || {};
    process.stdout.write(
      JSON.stringify({
        ok: false,
        code: err.code,
        reason: first.reason,
        message: err.message,
      }) + '\n'
    );
  }
);
