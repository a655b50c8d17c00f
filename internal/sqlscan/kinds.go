package sqlscan

import (
	"github.com/goccy/go-zetasql/ast"
)

// Statement kinds. The names follow BigQuery's statementType where one exists.
const (
	KindQuery                 = "QUERY"
	KindInsert                = "INSERT"
	KindUpdate                = "UPDATE"
	KindDelete                = "DELETE"
	KindMerge                 = "MERGE"
	KindTruncate              = "TRUNCATE_TABLE"
	KindCreateTable           = "CREATE_TABLE"
	KindCreateTableAsSelect   = "CREATE_TABLE_AS_SELECT"
	KindCreateExternalTable   = "CREATE_EXTERNAL_TABLE"
	KindCreateSnapshotTable   = "CREATE_SNAPSHOT_TABLE"
	KindCreateView            = "CREATE_VIEW"
	KindCreateMaterialized    = "CREATE_MATERIALIZED_VIEW"
	KindCreateFunction        = "CREATE_FUNCTION"
	KindCreateTableFunction   = "CREATE_TABLE_FUNCTION"
	KindCreateProcedure       = "CREATE_PROCEDURE"
	KindCreateSchema          = "CREATE_SCHEMA"
	KindCreateModel           = "CREATE_MODEL"
	KindCreateRowAccessPolicy = "CREATE_ROW_ACCESS_POLICY"
	KindCreateIndex           = "CREATE_SEARCH_INDEX"
	KindCreateOther           = "CREATE_OTHER"
	KindAlterTable            = "ALTER_TABLE"
	KindAlterView             = "ALTER_VIEW"
	KindAlterMaterialized     = "ALTER_MATERIALIZED_VIEW"
	KindAlterSchema           = "ALTER_SCHEMA"
	KindAlterOther            = "ALTER_OTHER"
	KindDrop                  = "DROP"
	KindRename                = "RENAME"
	KindGrant                 = "GRANT"
	KindRevoke                = "REVOKE"
	KindExportData            = "EXPORT_DATA"
	KindExportModel           = "EXPORT_MODEL"
	KindLoadData              = "LOAD_DATA"
	KindCall                  = "CALL"
	KindExecuteImmediate      = "EXECUTE_IMMEDIATE"
	KindBeginTransaction      = "BEGIN_TRANSACTION"
	KindCommit                = "COMMIT_TRANSACTION"
	KindRollback              = "ROLLBACK_TRANSACTION"
	KindDeclare               = "DECLARE"
	KindSet                   = "SET"
	KindIf                    = "IF"
	KindCase                  = "CASE"
	KindLoop                  = "LOOP"
	KindFor                   = "FOR"
	KindBlock                 = "BLOCK"
	KindBreak                 = "BREAK"
	KindReturn                = "RETURN"
	KindRaise                 = "RAISE"
	KindAssert                = "ASSERT"
	KindExplain               = "EXPLAIN"
	KindOther                 = "OTHER"
)

// Statement classes group kinds for policy rules.
const (
	ClassQuery       = "query"
	ClassDML         = "dml"
	ClassDDL         = "ddl"
	ClassDCL         = "dcl"
	ClassExport      = "export"
	ClassLoad        = "load"
	ClassCall        = "call"
	ClassDynamic     = "dynamic"
	ClassTransaction = "transaction"
	ClassVariable    = "variable"
	ClassControl     = "control"
	ClassOther       = "other"
)

// Kinds lists every statement kind Analyze reports, for validating policies.
var Kinds = []string{
	KindQuery, KindInsert, KindUpdate, KindDelete, KindMerge, KindTruncate,
	KindCreateTable, KindCreateTableAsSelect, KindCreateExternalTable, KindCreateSnapshotTable,
	KindCreateView, KindCreateMaterialized, KindCreateFunction, KindCreateTableFunction,
	KindCreateProcedure, KindCreateSchema, KindCreateModel, KindCreateRowAccessPolicy,
	KindCreateIndex, KindCreateOther, KindAlterTable, KindAlterView, KindAlterMaterialized,
	KindAlterSchema, KindAlterOther, KindDrop, KindRename, KindGrant, KindRevoke,
	KindExportData, KindExportModel, KindLoadData, KindCall, KindExecuteImmediate,
	KindBeginTransaction, KindCommit, KindRollback, KindDeclare, KindSet, KindIf, KindCase,
	KindLoop, KindFor, KindBlock, KindBreak, KindReturn, KindRaise, KindAssert, KindExplain,
	KindOther,
}

// Classes lists every statement class.
var Classes = []string{
	ClassQuery, ClassDML, ClassDDL, ClassDCL, ClassExport, ClassLoad, ClassCall,
	ClassDynamic, ClassTransaction, ClassVariable, ClassControl, ClassOther,
}

// ClassOf returns the class of a statement kind.
func ClassOf(kind string) string {
	switch kind {
	case KindQuery:
		return ClassQuery
	case KindInsert, KindUpdate, KindDelete, KindMerge, KindTruncate:
		return ClassDML
	case KindCreateTable, KindCreateTableAsSelect, KindCreateExternalTable, KindCreateSnapshotTable,
		KindCreateView, KindCreateMaterialized, KindCreateFunction, KindCreateTableFunction,
		KindCreateProcedure, KindCreateSchema, KindCreateModel, KindCreateRowAccessPolicy,
		KindCreateIndex, KindCreateOther, KindAlterTable, KindAlterView, KindAlterMaterialized,
		KindAlterSchema, KindAlterOther, KindDrop, KindRename:
		return ClassDDL
	case KindGrant, KindRevoke:
		return ClassDCL
	case KindExportData, KindExportModel:
		return ClassExport
	case KindLoadData:
		return ClassLoad
	case KindCall:
		return ClassCall
	case KindExecuteImmediate:
		return ClassDynamic
	case KindBeginTransaction, KindCommit, KindRollback:
		return ClassTransaction
	case KindDeclare, KindSet:
		return ClassVariable
	case KindIf, KindCase, KindLoop, KindFor, KindBlock, KindBreak, KindReturn, KindRaise, KindAssert:
		return ClassControl
	}
	return ClassOther
}

// kindOf classifies a parsed statement. HintedStatement and EXPLAIN are
// unwrapped by the caller.
func kindOf(n ast.Node) string {
	switch s := n.(type) {
	case *ast.QueryStatementNode:
		return KindQuery
	case *ast.InsertStatementNode:
		return KindInsert
	case *ast.UpdateStatementNode:
		return KindUpdate
	case *ast.DeleteStatementNode:
		return KindDelete
	case *ast.MergeStatementNode:
		return KindMerge
	case *ast.TrucateStatementNode:
		return KindTruncate
	case *ast.CreateTableStatementNode:
		if s.Query() != nil {
			return KindCreateTableAsSelect
		}
		return KindCreateTable
	case *ast.CreateExternalTableStatementNode:
		return KindCreateExternalTable
	case *ast.CreateSnapshotTableStatementNode:
		return KindCreateSnapshotTable
	case *ast.CreateViewStatementNode:
		return KindCreateView
	case *ast.CreateMaterializedViewStatementNode:
		return KindCreateMaterialized
	case *ast.CreateFunctionStatementNode:
		return KindCreateFunction
	case *ast.CreateTableFunctionStatementNode:
		return KindCreateTableFunction
	case *ast.CreateProcedureStatementNode:
		return KindCreateProcedure
	case *ast.CreateSchemaStatementNode:
		return KindCreateSchema
	case *ast.CreateModelStatementNode:
		return KindCreateModel
	case *ast.CreateRowAccessPolicyStatementNode:
		return KindCreateRowAccessPolicy
	case *ast.CreateIndexStatementNode:
		return KindCreateIndex
	case *ast.AlterTableStatementNode:
		return KindAlterTable
	case *ast.AlterViewStatementNode:
		return KindAlterView
	case *ast.AlterMaterializedViewStatementNode:
		return KindAlterMaterialized
	case *ast.AlterSchemaStatementNode:
		return KindAlterSchema
	case *ast.RenameStatementNode:
		return KindRename
	case *ast.GrantStatementNode:
		return KindGrant
	case *ast.RevokeStatementNode:
		return KindRevoke
	case *ast.ExportDataStatementNode:
		return KindExportData
	case *ast.ExportModelStatementNode:
		return KindExportModel
	case *ast.AuxLoadDataStatementNode:
		return KindLoadData
	case *ast.CallStatementNode:
		return KindCall
	case *ast.ExecuteImmediateStatementNode:
		return KindExecuteImmediate
	case *ast.BeginStatementNode:
		return KindBeginTransaction
	case *ast.CommitStatementNode:
		return KindCommit
	case *ast.RollbackStatementNode:
		return KindRollback
	case *ast.VariableDeclarationNode:
		return KindDeclare
	case *ast.SingleAssignmentNode, *ast.ParameterAssignmentNode,
		*ast.SystemVariableAssignmentNode, *ast.AssignmentFromStructNode:
		return KindSet
	case *ast.IfStatementNode:
		return KindIf
	case *ast.CaseStatementNode:
		return KindCase
	case *ast.WhileStatementNode, *ast.RepeatStatementNode:
		return KindLoop
	case *ast.ForInStatementNode:
		return KindFor
	case *ast.BeginEndBlockNode:
		return KindBlock
	case *ast.BreakStatementNode, *ast.ContinueStatementNode:
		return KindBreak
	case *ast.ReturnStatementNode:
		return KindReturn
	case *ast.RaiseStatementNode:
		return KindRaise
	case *ast.AssertStatementNode:
		return KindAssert
	case *ast.ExplainStatementNode:
		return KindExplain
	}
	switch {
	case n.IsCreateStatement():
		return KindCreateOther
	case n.IsAlterStatement():
		return KindAlterOther
	}
	switch n.Kind() {
	case ast.DropStatement, ast.DropFunctionStatement, ast.DropTableFunctionStatement,
		ast.DropMaterializedViewStatement, ast.DropSnapshotTableStatement,
		ast.DropRowAccessPolicyStatement, ast.DropAllRowAccessPoliciesStatement,
		ast.DropSearchIndexStatement, ast.DropEntityStatement, ast.DropPrivilegeRestrictionStatement:
		return KindDrop
	}
	return KindOther
}
