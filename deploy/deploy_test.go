// Package deploy holds Kubernetes manifests for running metactl's etcd
// catalog; this test keeps the etcd StatefulSet self-consistent.
package deploy

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

type manifest struct {
	Kind     string `yaml:"kind"`
	Metadata struct {
		Name string `yaml:"name"`
	} `yaml:"metadata"`
	Spec struct {
		ClusterIP    string `yaml:"clusterIP"`
		ServiceName  string `yaml:"serviceName"`
		Replicas     int    `yaml:"replicas"`
		MinAvailable int    `yaml:"minAvailable"`
		Template     struct {
			Spec struct {
				Containers []struct {
					Command []string `yaml:"command"`
				} `yaml:"containers"`
			} `yaml:"spec"`
		} `yaml:"template"`
	} `yaml:"spec"`
}

// TestEtcdStatefulSet: the headless service is the StatefulSet's, the
// initial cluster names exactly its members at their stable DNS names,
// the disruption budget keeps a quorum, and history compaction is on.
func TestEtcdStatefulSet(t *testing.T) {
	f, err := os.Open("etcd-statefulset.yaml")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	docs := map[string]manifest{}
	dec := yaml.NewDecoder(f)
	for {
		var m manifest
		if err := dec.Decode(&m); err != nil {
			break
		}
		docs[m.Kind] = m
	}
	svc, pdb, sts := docs["Service"], docs["PodDisruptionBudget"], docs["StatefulSet"]
	if svc.Spec.ClusterIP != "None" || sts.Spec.ServiceName != svc.Metadata.Name {
		t.Fatalf("the StatefulSet's serviceName %q is not the headless service %q", sts.Spec.ServiceName, svc.Metadata.Name)
	}
	n := sts.Spec.Replicas
	if n < 3 || n%2 == 0 || pdb.Spec.MinAvailable != n/2+1 {
		t.Fatalf("%d replicas with minAvailable %d: want an odd number >= 3 and a quorum", n, pdb.Spec.MinAvailable)
	}
	flags := map[string]string{}
	for _, a := range sts.Spec.Template.Spec.Containers[0].Command[1:] {
		k, v, _ := strings.Cut(a, "=")
		flags[k] = v
	}
	var want []string
	for i := range n {
		name := fmt.Sprintf("%s-%d", sts.Metadata.Name, i)
		want = append(want, fmt.Sprintf("%s=http://%s.%s:2380", name, name, svc.Metadata.Name))
	}
	if got := flags["--initial-cluster"]; got != strings.Join(want, ",") {
		t.Errorf("--initial-cluster=%s\nwant %s", got, strings.Join(want, ","))
	}
	for _, k := range []string{"--auto-compaction-retention", "--quota-backend-bytes", "--data-dir"} {
		if flags[k] == "" {
			t.Errorf("%s is not set", k)
		}
	}
	if want := "http://$(POD_NAME)." + svc.Metadata.Name + ":2379"; flags["--advertise-client-urls"] != want {
		t.Errorf("--advertise-client-urls=%s, want %s", flags["--advertise-client-urls"], want)
	}
}
