// Entry point for the Kubernetes provider plugin, built by the engine bootstrap.
//
// The provider's own cmd/pulumi-resource-kubernetes embeds schema-embed.json and terraform-mapping-embed.json,
// which `go generate` writes and the module zip therefore lacks. The bootstrap writes both next to this file from
// the committed schema.json and terraform-mapping.json in the module cache, stamping the schema version.
package main

import (
	_ "embed"

	"github.com/pulumi/pulumi-kubernetes/provider/v4/pkg/provider"
	"github.com/pulumi/pulumi-kubernetes/provider/v4/pkg/version"
)

//go:embed schema-embed.json
var schema []byte

//go:embed terraform-mapping-embed.json
var terraformMapping []byte

func main() {
	provider.Serve("kubernetes", version.Version, schema, terraformMapping)
}
