package kube

import (
	"testing"

	"k8s.io/client-go/kubernetes/fake"
)

func TestPlaceholder(t *testing.T) { _ = fake.NewSimpleClientset() }
