// Package kube is the Kubernetes API source: client-go informers (in-cluster
// configuration or a kubeconfig) over nodes, pods, namespaces, persistent volumes and
// claims, services, ReplicaSets and Jobs. It keeps the metadata costwarden needs —
// labels and annotations with their real keys, owners resolved to Deployments and
// CronJobs, LoadBalancer selectors, node labels and capacity — and applies it to an
// observation made from Prometheus, which only knows sanitised label names and no
// selectors.
//
// It is the only package that imports client-go (a heavy dependency), and it only
// reads: list and watch, never write. It must not compute costs.
package kube

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/costwarden/costwarden/internal/collect/kubemetrics"
	"github.com/costwarden/costwarden/internal/cost"
)

// Options configure an Inventory.
type Options struct {
	// Resync is the informers' resync period (0: none).
	Resync time.Duration
	// DeletedRetention is how long the metadata of deleted objects is kept, so an hour
	// closed after a pod ended still gets its real labels.
	DeletedRetention time.Duration
	Now              func() time.Time
	Log              *slog.Logger
}

// Config locates the API server: a kubeconfig file (and optional context), or the
// in-cluster service account when Kubeconfig is empty.
type Config struct {
	Kubeconfig string
	Context    string
	// Dial, if set, makes every connection to the API server (internal/egress's
	// guarded dialer); Allow, if set, is told the API server's host:port first.
	Dial  func(ctx context.Context, network, addr string) (net.Conn, error)
	Allow func(hostport string) error
}

// Client builds a read-only clientset from c.
func Client(c Config) (kubernetes.Interface, error) {
	var rc *rest.Config
	var err error
	if c.Kubeconfig == "" {
		rc, err = rest.InClusterConfig()
		if err != nil {
			return nil, fmt.Errorf("kubernetes: not running in a cluster and no kubeconfig given (collect.kubernetes.kubeconfig): %w", err)
		}
	} else {
		rules := &clientcmd.ClientConfigLoadingRules{ExplicitPath: c.Kubeconfig}
		rc, err = clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{CurrentContext: c.Context}).ClientConfig()
		if err != nil {
			return nil, fmt.Errorf("kubernetes: kubeconfig %s: %w", c.Kubeconfig, err)
		}
	}
	rc.UserAgent = "costwarden"
	if c.Allow != nil {
		u, err := url.Parse(rc.Host)
		if err != nil || u.Host == "" {
			u = &url.URL{Scheme: "https", Host: rc.Host}
		}
		port := u.Port()
		if port == "" {
			port = "443"
			if u.Scheme == "http" {
				port = "80"
			}
		}
		if err := c.Allow(net.JoinHostPort(u.Hostname(), port)); err != nil {
			return nil, err
		}
	}
	if c.Dial != nil {
		rc.Dial = c.Dial
		rc.Proxy = func(*http.Request) (*url.URL, error) { return nil, nil }
	}
	return kubernetes.NewForConfig(rc)
}

type podMeta struct {
	namespace, name, uid string
	labels, annotations  map[string]string
	kind, owner          string // direct controller owner
	claims               []string
	node                 string
	deleted              time.Time
}

type ownerMeta struct {
	kind, name string // controlling owner
	deleted    time.Time
}

type svcMeta struct {
	lb       bool
	selector map[string]string
	deleted  time.Time
}

type nodeMeta struct {
	labels     map[string]string
	providerID string
	cpu, ram   float64
	gpu        float64
	deleted    time.Time
}

type nsMeta struct {
	labels, annotations map[string]string
	deleted             time.Time
}

// Inventory is the API's current view (plus recently deleted objects).
type Inventory struct {
	client kubernetes.Interface
	opts   Options

	mu         sync.RWMutex
	pods       map[string]*podMeta // by uid
	podByName  map[string]string   // namespace/name -> uid
	rs, jobs   map[string]*ownerMeta
	services   map[string]*svcMeta
	nodes      map[string]*nodeMeta
	namespaces map[string]*nsMeta
	volumes    map[string]string // PV name -> storage class
	claims     map[string]string // namespace/claim -> volume
	keys       map[string]string // sanitised label or annotation name -> real key
	events     int
	lastEvent  time.Time
	lastPurge  time.Time
	synced     bool
	lastErr    string
}

// New returns an Inventory reading client. Call Run to start the informers.
func New(client kubernetes.Interface, opts Options) *Inventory {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	if opts.DeletedRetention <= 0 {
		opts.DeletedRetention = 3 * time.Hour
	}
	return &Inventory{
		client: client, opts: opts,
		pods: map[string]*podMeta{}, podByName: map[string]string{},
		rs: map[string]*ownerMeta{}, jobs: map[string]*ownerMeta{}, services: map[string]*svcMeta{},
		nodes: map[string]*nodeMeta{}, namespaces: map[string]*nsMeta{},
		volumes: map[string]string{}, claims: map[string]string{}, keys: map[string]string{},
	}
}

// Run starts the informers, waits until their caches are synced, and keeps them
// running until ctx ends. It returns once synced (or with the error that prevented
// it); the informers stop with ctx.
func (in *Inventory) Run(ctx context.Context) error {
	f := informers.NewSharedInformerFactory(in.client, in.opts.Resync)
	handlers := []struct {
		inf cache.SharedIndexInformer
		fn  func(obj any, deleted bool)
	}{
		{f.Core().V1().Pods().Informer(), in.onPod},
		{f.Core().V1().Nodes().Informer(), in.onNode},
		{f.Core().V1().Namespaces().Informer(), in.onNamespace},
		{f.Core().V1().Services().Informer(), in.onService},
		{f.Core().V1().PersistentVolumes().Informer(), in.onVolume},
		{f.Core().V1().PersistentVolumeClaims().Informer(), in.onClaim},
		{f.Apps().V1().ReplicaSets().Informer(), in.onReplicaSet},
		{f.Batch().V1().Jobs().Informer(), in.onJob},
	}
	for _, h := range handlers {
		fn := h.fn
		_, err := h.inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
			AddFunc:    func(o any) { fn(o, false) },
			UpdateFunc: func(_, o any) { fn(o, false) },
			DeleteFunc: func(o any) {
				if t, ok := o.(cache.DeletedFinalStateUnknown); ok {
					o = t.Obj
				}
				fn(o, true)
			},
		})
		if err != nil {
			return err
		}
		_ = h.inf.SetWatchErrorHandler(func(_ *cache.Reflector, err error) {
			in.mu.Lock()
			in.lastErr = err.Error()
			in.mu.Unlock()
			in.opts.Log.Warn("kubernetes watch failed; retrying", "error", err)
		})
	}
	f.Start(ctx.Done())
	for typ, ok := range f.WaitForCacheSync(ctx.Done()) {
		if !ok {
			return fmt.Errorf("kubernetes: the %s cache did not sync (check the RBAC in docs/collectors.md): %w", typ, errors.Join(ctx.Err(), errors.New(in.Health().LastError)))
		}
	}
	in.mu.Lock()
	in.synced = true
	in.mu.Unlock()
	in.opts.Log.Info("kubernetes inventory synced", "pods", len(in.pods), "nodes", len(in.nodes))
	go func() { <-ctx.Done(); f.Shutdown() }()
	return nil
}

// Health describes the inventory for the status endpoint.
type Health struct {
	Synced    bool
	Events    int
	LastEvent time.Time
	LastError string
	Pods      int
	Nodes     int
}

// Health returns a snapshot.
func (in *Inventory) Health() Health {
	in.mu.RLock()
	defer in.mu.RUnlock()
	return Health{Synced: in.synced, Events: in.events, LastEvent: in.lastEvent, LastError: in.lastErr, Pods: len(in.pods), Nodes: len(in.nodes)}
}

// touch records an event and expires old tombstones. Called with mu held.
func (in *Inventory) touch() {
	now := in.opts.Now()
	in.events++
	in.lastEvent = now
	if now.Sub(in.lastPurge) < time.Minute {
		return
	}
	in.lastPurge = now
	old := func(t time.Time) bool { return !t.IsZero() && now.Sub(t) > in.opts.DeletedRetention }
	for uid, p := range in.pods {
		if old(p.deleted) {
			delete(in.pods, uid)
			if in.podByName[p.namespace+"/"+p.name] == uid {
				delete(in.podByName, p.namespace+"/"+p.name)
			}
		}
	}
	for _, m := range []map[string]*ownerMeta{in.rs, in.jobs} {
		for k, o := range m {
			if old(o.deleted) {
				delete(m, k)
			}
		}
	}
	for k, s := range in.services {
		if old(s.deleted) {
			delete(in.services, k)
		}
	}
	for k, n := range in.nodes {
		if old(n.deleted) {
			delete(in.nodes, k)
		}
	}
	for k, n := range in.namespaces {
		if old(n.deleted) {
			delete(in.namespaces, k)
		}
	}
}

func (in *Inventory) learnKeys(prefix string, m map[string]string) {
	for k := range m {
		in.keys[kubemetrics.SanitizeLabel(prefix, k)] = k
	}
}

func deletedAt(deleted bool, now func() time.Time) time.Time {
	if deleted {
		return now()
	}
	return time.Time{}
}

func controllerOf(refs []metav1.OwnerReference) (string, string) {
	for _, r := range refs {
		if r.Controller != nil && *r.Controller {
			return r.Kind, r.Name
		}
	}
	if len(refs) > 0 {
		return refs[0].Kind, refs[0].Name
	}
	return "", ""
}

func (in *Inventory) onPod(obj any, deleted bool) {
	p, ok := obj.(*corev1.Pod)
	if !ok {
		return
	}
	kind, owner := controllerOf(p.OwnerReferences)
	var claims []string
	for _, v := range p.Spec.Volumes {
		if v.PersistentVolumeClaim != nil {
			claims = append(claims, v.PersistentVolumeClaim.ClaimName)
		}
	}
	in.mu.Lock()
	defer in.mu.Unlock()
	in.touch()
	uid := string(p.UID)
	in.pods[uid] = &podMeta{
		namespace: p.Namespace, name: p.Name, uid: uid, labels: p.Labels, annotations: p.Annotations,
		kind: kind, owner: owner, claims: claims, node: p.Spec.NodeName, deleted: deletedAt(deleted, in.opts.Now),
	}
	in.podByName[p.Namespace+"/"+p.Name] = uid
	in.learnKeys("label_", p.Labels)
	in.learnKeys("annotation_", p.Annotations)
}

func (in *Inventory) onNode(obj any, deleted bool) {
	n, ok := obj.(*corev1.Node)
	if !ok {
		return
	}
	cap := n.Status.Capacity
	m := &nodeMeta{labels: n.Labels, providerID: n.Spec.ProviderID, deleted: deletedAt(deleted, in.opts.Now)}
	if q, ok := cap[corev1.ResourceCPU]; ok {
		m.cpu = q.AsApproximateFloat64()
	}
	if q, ok := cap[corev1.ResourceMemory]; ok {
		m.ram = q.AsApproximateFloat64()
	}
	if q, ok := cap["nvidia.com/gpu"]; ok {
		m.gpu = q.AsApproximateFloat64()
	}
	in.mu.Lock()
	defer in.mu.Unlock()
	in.touch()
	in.nodes[n.Name] = m
	in.learnKeys("label_", n.Labels)
}

func (in *Inventory) onNamespace(obj any, deleted bool) {
	ns, ok := obj.(*corev1.Namespace)
	if !ok {
		return
	}
	in.mu.Lock()
	defer in.mu.Unlock()
	in.touch()
	in.namespaces[ns.Name] = &nsMeta{labels: ns.Labels, annotations: ns.Annotations, deleted: deletedAt(deleted, in.opts.Now)}
	in.learnKeys("label_", ns.Labels)
	in.learnKeys("annotation_", ns.Annotations)
}

func (in *Inventory) onService(obj any, deleted bool) {
	s, ok := obj.(*corev1.Service)
	if !ok {
		return
	}
	in.mu.Lock()
	defer in.mu.Unlock()
	in.touch()
	sel := s.Spec.Selector
	if sel == nil {
		sel = map[string]string{} // known, and matches nothing
	}
	in.services[s.Namespace+"/"+s.Name] = &svcMeta{lb: s.Spec.Type == corev1.ServiceTypeLoadBalancer, selector: sel, deleted: deletedAt(deleted, in.opts.Now)}
}

func (in *Inventory) onVolume(obj any, deleted bool) {
	v, ok := obj.(*corev1.PersistentVolume)
	if !ok {
		return
	}
	in.mu.Lock()
	defer in.mu.Unlock()
	in.touch()
	if deleted {
		delete(in.volumes, v.Name)
		return
	}
	in.volumes[v.Name] = v.Spec.StorageClassName
}

func (in *Inventory) onClaim(obj any, deleted bool) {
	c, ok := obj.(*corev1.PersistentVolumeClaim)
	if !ok {
		return
	}
	in.mu.Lock()
	defer in.mu.Unlock()
	in.touch()
	if deleted {
		delete(in.claims, c.Namespace+"/"+c.Name)
		return
	}
	in.claims[c.Namespace+"/"+c.Name] = c.Spec.VolumeName
}

func (in *Inventory) onReplicaSet(obj any, deleted bool) {
	r, ok := obj.(*appsv1.ReplicaSet)
	if !ok {
		return
	}
	kind, name := controllerOf(r.OwnerReferences)
	in.mu.Lock()
	defer in.mu.Unlock()
	in.touch()
	in.rs[r.Namespace+"/"+r.Name] = &ownerMeta{kind: kind, name: name, deleted: deletedAt(deleted, in.opts.Now)}
}

func (in *Inventory) onJob(obj any, deleted bool) {
	j, ok := obj.(*batchv1.Job)
	if !ok {
		return
	}
	kind, name := controllerOf(j.OwnerReferences)
	in.mu.Lock()
	defer in.mu.Unlock()
	in.touch()
	in.jobs[j.Namespace+"/"+j.Name] = &ownerMeta{kind: kind, name: name, deleted: deletedAt(deleted, in.opts.Now)}
}

// controller resolves a pod's owner the way costwarden reports it: ReplicaSet →
// Deployment, Job → CronJob, and lower-case kinds. Called with mu held.
func (in *Inventory) controller(namespace, kind, name string) (string, string) {
	switch kind {
	case "":
		return "", ""
	case "ReplicaSet":
		if o := in.rs[namespace+"/"+name]; o != nil && o.kind == "Deployment" {
			return "deployment", o.name
		}
		return "replicaset", name
	case "Job":
		if o := in.jobs[namespace+"/"+name]; o != nil && o.kind == "CronJob" {
			return "cronjob", o.name
		}
		return "job", name
	}
	return strings.ToLower(kind), name
}

// Stats says what Apply changed.
type Stats struct {
	Pods, Nodes, Namespaces, Services, Volumes int
	RenamedKeys                                int
}

// Apply replaces the metadata of obs with the API's wherever the API knows the
// object: pod labels, annotations, owners and claims; namespace labels and
// annotations; node labels (and capacity when Prometheus had none); LoadBalancer
// selectors; volume classes and bindings. Label names that only Prometheus knew
// (sanitised) get their real key back when the API has seen that key anywhere.
func (in *Inventory) Apply(obs *cost.Observation) Stats {
	in.mu.RLock()
	defer in.mu.RUnlock()
	var st Stats
	for i := range obs.Pods {
		p := &obs.Pods[i]
		m := in.pods[p.UID]
		if m == nil && p.UID == "" {
			if uid, ok := in.podByName[p.Namespace+"/"+p.Name]; ok {
				m = in.pods[uid]
			}
		}
		if m == nil {
			st.RenamedKeys += in.rename(p.Labels, "label_") + in.rename(p.Annotations, "annotation_")
			continue
		}
		st.Pods++
		p.Labels = clone(m.labels)
		p.Annotations = clone(m.annotations)
		p.ControllerKind, p.Controller = in.controller(m.namespace, m.kind, m.owner)
		if len(p.Claims) == 0 && len(m.claims) > 0 {
			p.Claims = append([]string(nil), m.claims...)
		}
		if p.Node == "" {
			p.Node = m.node
		}
	}
	for i := range obs.Namespaces {
		ns := &obs.Namespaces[i]
		if m := in.namespaces[ns.Name]; m != nil {
			st.Namespaces++
			ns.Labels, ns.Annotations = clone(m.labels), clone(m.annotations)
		} else {
			st.RenamedKeys += in.rename(ns.Labels, "label_") + in.rename(ns.Annotations, "annotation_")
		}
	}
	for i := range obs.Nodes {
		n := &obs.Nodes[i]
		m := in.nodes[n.Name]
		if m == nil {
			continue
		}
		st.Nodes++
		n.Labels = clone(m.labels)
		n.Provider, n.InstanceType, n.Region, n.Zone, n.CapacityType = "", "", "", "", ""
		if n.ProviderID == "" {
			n.ProviderID = m.providerID
		}
		if n.CPUCores == 0 && n.RAMBytes == 0 {
			n.CPUCores, n.RAMBytes, n.GPUs = m.cpu, m.ram, m.gpu
		}
		kubemetrics.DescribeNode(n)
	}
	for i := range obs.Services {
		s := &obs.Services[i]
		if m := in.services[s.Namespace+"/"+s.Name]; m != nil {
			st.Services++
			s.Selector = clone(m.selector)
			if s.Selector == nil {
				s.Selector = map[string]string{}
			}
		}
	}
	for i := range obs.Volumes {
		v := &obs.Volumes[i]
		if sc, ok := in.volumes[v.Name]; ok {
			st.Volumes++
			if v.StorageClass == "" {
				v.StorageClass = sc
			}
		}
	}
	return st
}

// rename gives sanitised keys their real name where known. Called with mu held.
func (in *Inventory) rename(m map[string]string, prefix string) int {
	var renames [][2]string
	for k := range m {
		if real, ok := in.keys[prefix+k]; ok && real != k {
			renames = append(renames, [2]string{k, real})
		}
	}
	for _, r := range renames {
		m[r[1]] = m[r[0]]
		delete(m, r[0])
	}
	return len(renames)
}

func clone(m map[string]string) map[string]string {
	if m == nil {
		return nil
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}
