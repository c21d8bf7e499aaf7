// Command typedoc writes api/docs_gen.go: the doc comments of the API's Go
// types (root package, service and api), which the OpenAPI document uses
// for its descriptions and enums. Run by go generate in api/.
package main

import (
	"flag"
	"log"
	"os"

	"github.com/labspace/labspace/internal/typedoc"
)

func main() {
	out := flag.String("o", "docs_gen.go", "file to write")
	flag.Parse()
	src, err := typedoc.Generate("api", typedoc.APIPackages("."))
	if err != nil {
		log.Fatal(err)
	}
	if err := os.WriteFile(*out, src, 0o644); err != nil {
		log.Fatal(err)
	}
}
