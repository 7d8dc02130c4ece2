// Command deploycheck checks the deployment examples with the parsers their
// own tools use, since the tools cannot run here:
//
//   - *.hcl (the Nomad job): HashiCorp's HCL parser. `nomad job validate`
//     would also check the job's schema, but Nomad is not open source from
//     1.7 on and is not installed.
//   - *.yaml (the Kubernetes DaemonSet): decoded strictly into the
//     Kubernetes API types (k8s.io/api), so an unknown field or a wrong type
//     is an error. `kubectl apply --dry-run` would need a cluster.
package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/hashicorp/hcl/v2/hclparse"
	appsv1 "k8s.io/api/apps/v1"
	"sigs.k8s.io/yaml"
)

func main() {
	failed := false
	for _, path := range os.Args[1:] {
		if err := check(path); err != nil {
			fmt.Fprintf(os.Stderr, "%s: %v\n", path, err)
			failed = true
			continue
		}
		fmt.Printf("%s: valid\n", path)
	}
	if failed {
		os.Exit(1)
	}
}

func check(path string) error {
	switch filepath.Ext(path) {
	case ".hcl":
		if _, diags := hclparse.NewParser().ParseHCLFile(path); diags.HasErrors() {
			return diags
		}
		return nil
	case ".yaml":
		return checkDaemonSet(path)
	}
	return fmt.Errorf("no check for this kind of file")
}

func checkDaemonSet(path string) error {
	text, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var ds appsv1.DaemonSet
	if err := yaml.UnmarshalStrict(text, &ds); err != nil {
		return err
	}
	if ds.Kind != "DaemonSet" || ds.APIVersion != "apps/v1" {
		return fmt.Errorf("expected an apps/v1 DaemonSet, got %s %s", ds.APIVersion, ds.Kind)
	}
	if len(ds.Spec.Template.Spec.Containers) == 0 || ds.Spec.Selector == nil {
		return fmt.Errorf("a DaemonSet needs a selector and a container")
	}
	return nil
}
