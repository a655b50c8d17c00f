// Command functions serves one querygate Cloud Run function, selected by
// FUNCTION_TARGET (Intake, Policy, Execute, Deidentify, Record). It does not
// link the BigQuery emulator or any local stand-in.
package main

import (
	"log"
	"os"

	"github.com/GoogleCloudPlatform/functions-framework-go/funcframework"

	_ "github.com/querygate/querygate/functions"
)

func main() {
	port := os.Getenv("PORT")
	if port == "" {
		port = "8080"
	}
	if err := funcframework.StartHostPort("", port); err != nil {
		log.Fatalf("funcframework: %v", err)
	}
}
