package gateway

import (
	"net/http"

	"github.com/querygate/querygate/internal/approval"
	"github.com/querygate/querygate/internal/auth"
	"github.com/querygate/querygate/internal/bqapi"
	"github.com/querygate/querygate/internal/intake"
	"github.com/querygate/querygate/internal/mcp"
	"github.com/querygate/querygate/internal/openapi"
	"github.com/querygate/querygate/internal/replay"
	"github.com/querygate/querygate/internal/steps"
)

// Routes are the handlers one process serves. Nil members are not mounted.
type Routes struct {
	Intake   *intake.Server
	Steps    *steps.Steps
	Approval *approval.Service
	// Internal verifies the tokens of the workflow calling the step
	// functions; only WorkflowCallers may call them.
	Internal        auth.Verifier
	WorkflowCallers []string
	// Extra are mounted as given (callbacks, mailbox, dev issuer).
	Extra map[string]http.Handler
	// Reidentify enables POST /v1/sessions/{id}/reidentify when set.
	Reidentify *intake.ReidentifyConfig
	Ready      func() bool
	// MCP serves /mcp and its OAuth resource metadata when set.
	MCP *mcp.Server

	// BigQuery serves BigQuery's REST API at /bigquery/v2 when set.
	BigQuery *bqapi.Server
}

// Handler builds the mux.
func (rt *Routes) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		if rt.Ready != nil && !rt.Ready() {
			http.Error(w, "starting", http.StatusServiceUnavailable)
			return
		}
		w.Write([]byte("ok\n"))
	})
	if rt.Intake != nil {
		rt.Intake.Register(mux)
		if rt.Reidentify != nil {
			rt.Intake.RegisterReidentify(mux, *rt.Reidentify)
		}
		mux.Handle("GET /sessions/{id}", replay.NewPageHandler(rt.Intake.Store, rt.Intake.MayRead))
		mux.Handle("GET "+openapi.Path, openapi.Handler())
	}
	if rt.BigQuery != nil {
		rt.BigQuery.Register(mux)
	}
	internal := func(h http.Handler) http.Handler { return auth.RequireCaller(rt.Internal, rt.WorkflowCallers, h) }
	if rt.Steps != nil {
		mux.Handle("POST /fn/policy", internal(rt.Steps.PolicyHandler()))
		mux.Handle("POST /fn/execute", internal(rt.Steps.ExecuteHandler()))
		mux.Handle("POST /fn/deidentify", internal(rt.Steps.DeidentifyHandler()))
		mux.Handle("POST /fn/record", internal(rt.Steps.RecordHandler()))
	}
	if rt.Approval != nil {
		mux.Handle("POST /fn/notify", internal(approval.NewNotifyHandler(rt.Approval)))
		page := approval.NewPageHandler(rt.Approval)
		mux.Handle("/approval", page)
		mux.Handle("/approval/decide", page)
		if rt.Intake != nil {
			// Approvers decide through the API with their own token.
			rt.Approval.RegisterAPI(mux, rt.Intake.Verifier)
		}
	}
	if rt.MCP != nil {
		rt.MCP.Register(mux)
	}
	for p, h := range rt.Extra {
		mux.Handle(p, h)
	}
	return mux
}
