// Package charttest holds the tests of the Helm chart in deploy/helm/costwarden and
// the generator of the plain manifests in deploy/manifests. It renders the chart with
// the Helm Go SDK exactly as `helm template` does, decodes every object strictly into
// its Kubernetes type, evaluates every pod against the "restricted" Pod Security
// Standard with the upstream pod-security-admission library, checks the
// NetworkPolicies, the RBAC rules and the rendered costwarden configuration, and
// refuses bad values. It has no non-test code: Helm and the admission library never
// reach the product binary.
package charttest
