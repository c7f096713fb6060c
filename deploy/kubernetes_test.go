package deploy

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"
	pkcs12 "software.sslmate.com/src/go-pkcs12"

	"github.com/tipgate/tipgate/internal/config"
)

const kubernetesDir = "kubernetes"

// newObject returns an empty object of the k8s.io/api type for an apiVersion
// and kind, or nil for one the base is not expected to hold.
func newObject(apiVersion, kind string) any {
	switch apiVersion + " " + kind {
	case "apps/v1 Deployment":
		return &appsv1.Deployment{}
	case "v1 Service":
		return &corev1.Service{}
	case "v1 ConfigMap":
		return &corev1.ConfigMap{}
	case "policy/v1 PodDisruptionBudget":
		return &policyv1.PodDisruptionBudget{}
	case "autoscaling/v2 HorizontalPodAutoscaler":
		return &autoscalingv2.HorizontalPodAutoscaler{}
	case "networking.k8s.io/v1 NetworkPolicy":
		return &networkingv1.NetworkPolicy{}
	}
	return nil
}

// decodeStrict decodes one YAML document into its k8s.io/api type. Unknown or
// duplicate fields are errors: a misspelt field would otherwise be dropped by
// the API server (or by kubectl's client-side apply) without a word.
func decodeStrict(doc []byte) (any, error) {
	var tm metav1.TypeMeta
	if err := yaml.Unmarshal(doc, &tm); err != nil {
		return nil, err
	}
	obj := newObject(tm.APIVersion, tm.Kind)
	if obj == nil {
		return nil, fmt.Errorf("unexpected object %s %s", tm.APIVersion, tm.Kind)
	}
	if err := yaml.UnmarshalStrict(doc, obj); err != nil {
		return nil, fmt.Errorf("%s %s: %w", tm.APIVersion, tm.Kind, err)
	}
	return obj, nil
}

var docSeparator = regexp.MustCompile(`(?m)^---[ \t]*$`)

// documents splits a YAML stream into its non-empty documents.
func documents(data []byte) [][]byte {
	var docs [][]byte
	for _, d := range docSeparator.Split(string(data), -1) {
		if strings.TrimSpace(stripComments(d)) != "" {
			docs = append(docs, []byte(d))
		}
	}
	return docs
}

func stripComments(s string) string {
	var b strings.Builder
	for line := range strings.Lines(s) {
		if !strings.HasPrefix(strings.TrimSpace(line), "#") {
			b.WriteString(line)
		}
	}
	return b.String()
}

// kustomization is the part of kustomization.yaml the tests read.
type kustomization struct {
	Resources []string `json:"resources"`
}

func readKustomization(t *testing.T) kustomization {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(kubernetesDir, "kustomization.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var k kustomization
	if err := yaml.Unmarshal(data, &k); err != nil {
		t.Fatalf("kustomization.yaml: %v", err)
	}
	return k
}

// TestManifestsDecodeStrictly decodes every object of every file in the base
// into its k8s.io/api type, and checks that kustomization.yaml lists every
// file, so none is silently left out of `kubectl apply -k`.
func TestManifestsDecodeStrictly(t *testing.T) {
	entries, err := os.ReadDir(kubernetesDir)
	if err != nil {
		t.Fatal(err)
	}
	var files []string
	for _, e := range entries {
		if !e.IsDir() && strings.HasSuffix(e.Name(), ".yaml") && e.Name() != "kustomization.yaml" {
			files = append(files, e.Name())
		}
	}
	if len(files) == 0 {
		t.Fatal("no manifests found")
	}
	for _, name := range files {
		t.Run(name, func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join(kubernetesDir, name))
			if err != nil {
				t.Fatal(err)
			}
			docs := documents(data)
			if len(docs) == 0 {
				t.Fatal("no object in the file")
			}
			for _, doc := range docs {
				if _, err := decodeStrict(doc); err != nil {
					t.Error(err)
				}
			}
		})
	}
	listed := readKustomization(t).Resources
	slices.Sort(listed)
	if !slices.Equal(listed, files) {
		t.Errorf("kustomization.yaml resources = %v, the directory holds %v", listed, files)
	}
}

// base is the kustomize build of the base, decoded.
type base struct {
	deployment *appsv1.Deployment
	service    *corev1.Service
	configMap  *corev1.ConfigMap
	pdb        *policyv1.PodDisruptionBudget
	hpa        *autoscalingv2.HorizontalPodAutoscaler
	netpol     *networkingv1.NetworkPolicy
}

// build runs kustomize's own library on the base, as `kubectl apply -k`
// would, and strict-decodes what it renders.
func build(t *testing.T) base {
	t.Helper()
	k := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
	m, err := k.Run(filesys.MakeFsOnDisk(), kubernetesDir)
	if err != nil {
		t.Fatalf("kustomize build: %v", err)
	}
	var b base
	for _, r := range m.Resources() {
		doc, err := r.AsYAML()
		if err != nil {
			t.Fatal(err)
		}
		obj, err := decodeStrict(doc)
		if err != nil {
			t.Fatalf("rendered object: %v", err)
		}
		dup := false
		switch o := obj.(type) {
		case *appsv1.Deployment:
			dup, b.deployment = b.deployment != nil, o
		case *corev1.Service:
			dup, b.service = b.service != nil, o
		case *corev1.ConfigMap:
			dup, b.configMap = b.configMap != nil, o
		case *policyv1.PodDisruptionBudget:
			dup, b.pdb = b.pdb != nil, o
		case *autoscalingv2.HorizontalPodAutoscaler:
			dup, b.hpa = b.hpa != nil, o
		case *networkingv1.NetworkPolicy:
			dup, b.netpol = b.netpol != nil, o
		}
		if dup {
			t.Fatalf("two objects of kind %T", obj)
		}
	}
	if b.deployment == nil || b.service == nil || b.configMap == nil || b.pdb == nil || b.hpa == nil || b.netpol == nil {
		t.Fatalf("the build lacks an object: %+v", b)
	}
	return b
}

func (b base) container(t *testing.T) corev1.Container {
	t.Helper()
	cs := b.deployment.Spec.Template.Spec.Containers
	if len(cs) != 1 {
		t.Fatalf("the Deployment has %d containers, want 1", len(cs))
	}
	return cs[0]
}

// secretVolume returns the volume mounting the Secret and where it is mounted.
func (b base) secretVolume(t *testing.T) (corev1.Volume, string) {
	t.Helper()
	c := b.container(t)
	for _, v := range b.deployment.Spec.Template.Spec.Volumes {
		if v.Secret == nil {
			continue
		}
		for _, m := range c.VolumeMounts {
			if m.Name == v.Name {
				return v, m.MountPath
			}
		}
	}
	t.Fatal("no Secret volume mounted in the container")
	return corev1.Volume{}, ""
}

func selects(t *testing.T, sel *metav1.LabelSelector, podLabels map[string]string) bool {
	t.Helper()
	s, err := metav1.LabelSelectorAsSelector(sel)
	if err != nil {
		t.Fatal(err)
	}
	return !s.Empty() && s.Matches(labels.Set(podLabels))
}

func hasPort(c corev1.Container, p intstr.IntOrString) bool {
	for _, cp := range c.Ports {
		if (p.Type == intstr.String && cp.Name == p.StrVal) || (p.Type == intstr.Int && cp.ContainerPort == p.IntVal) {
			return true
		}
	}
	return false
}

// TestBaseContract checks what the issue asks of the base, on the kustomize
// build: the objects find each other, the pod is locked down, the probes and
// the Secret are wired.
func TestBaseContract(t *testing.T) {
	b := build(t)
	d := b.deployment
	pod := d.Spec.Template
	c := b.container(t)

	checks := []struct {
		name string
		ok   func() error
	}{
		{"three replicas", func() error {
			if d.Spec.Replicas == nil || *d.Spec.Replicas != 3 {
				return fmt.Errorf("replicas = %v, want 3", d.Spec.Replicas)
			}
			if b.hpa.Spec.MinReplicas == nil || *b.hpa.Spec.MinReplicas < 3 {
				return fmt.Errorf("the autoscaler's minReplicas %v is under the Deployment's 3", b.hpa.Spec.MinReplicas)
			}
			return nil
		}},
		{"selectors match the pods", func() error {
			if !selects(t, d.Spec.Selector, pod.Labels) {
				return errors.New("the Deployment's selector does not match its pods")
			}
			if len(b.service.Spec.Selector) == 0 || !labels.SelectorFromSet(b.service.Spec.Selector).Matches(labels.Set(pod.Labels)) {
				return errors.New("the Service does not select the pods")
			}
			if !selects(t, b.pdb.Spec.Selector, pod.Labels) {
				return errors.New("the PodDisruptionBudget does not select the pods")
			}
			if !selects(t, &b.netpol.Spec.PodSelector, pod.Labels) {
				return errors.New("the NetworkPolicy does not select the pods")
			}
			ref := b.hpa.Spec.ScaleTargetRef
			if ref.Kind != "Deployment" || ref.APIVersion != "apps/v1" || ref.Name != d.Name {
				return fmt.Errorf("the autoscaler scales %+v, not the Deployment %q", ref, d.Name)
			}
			return nil
		}},
		{"probes", func() error {
			for _, p := range []struct {
				name  string
				probe *corev1.Probe
				path  string
			}{
				{"liveness", c.LivenessProbe, "/healthz"},
				{"readiness", c.ReadinessProbe, "/readyz"},
			} {
				if p.probe == nil || p.probe.HTTPGet == nil {
					return fmt.Errorf("no HTTP %s probe", p.name)
				}
				if p.probe.HTTPGet.Path != p.path || !hasPort(c, p.probe.HTTPGet.Port) {
					return fmt.Errorf("%s probe on %s port %s, want %s on a container port", p.name, p.probe.HTTPGet.Path, p.probe.HTTPGet.Port.String(), p.path)
				}
			}
			return nil
		}},
		{"service port reaches the container", func() error {
			for _, p := range b.service.Spec.Ports {
				if !hasPort(c, p.TargetPort) {
					return fmt.Errorf("service port %d targets %s, which the container does not expose", p.Port, p.TargetPort.String())
				}
			}
			return nil
		}},
		{"non-root, read-only", func() error {
			ps, cs := pod.Spec.SecurityContext, c.SecurityContext
			switch {
			case ps == nil || ps.RunAsNonRoot == nil || !*ps.RunAsNonRoot:
				return errors.New("the pod does not require a non-root user")
			case ps.RunAsUser == nil || *ps.RunAsUser == 0:
				return errors.New("the pod does not name a non-root uid")
			case cs == nil || cs.ReadOnlyRootFilesystem == nil || !*cs.ReadOnlyRootFilesystem:
				return errors.New("the root filesystem is writable")
			case cs.AllowPrivilegeEscalation == nil || *cs.AllowPrivilegeEscalation:
				return errors.New("privilege escalation is allowed")
			case cs.Capabilities == nil || !slices.Contains(cs.Capabilities.Drop, "ALL"):
				return errors.New("capabilities are not all dropped")
			}
			return nil
		}},
		{"resources", func() error {
			r := c.Resources
			if r.Requests.Cpu().IsZero() || r.Requests.Memory().IsZero() || r.Limits.Memory().IsZero() {
				return fmt.Errorf("resources %+v lack a cpu or memory request or a memory limit", r)
			}
			return nil
		}},
		{"network policy", func() error {
			np := b.netpol.Spec
			if !slices.Contains(np.PolicyTypes, networkingv1.PolicyTypeIngress) || !slices.Contains(np.PolicyTypes, networkingv1.PolicyTypeEgress) {
				return fmt.Errorf("policy types %v, want Ingress and Egress", np.PolicyTypes)
			}
			for _, in := range np.Ingress {
				if len(in.Ports) == 0 {
					return errors.New("an ingress rule opens every port")
				}
				for _, p := range in.Ports {
					if p.Port == nil || !hasPort(c, *p.Port) {
						return fmt.Errorf("ingress on a port the container does not serve: %v", p.Port)
					}
				}
			}
			allowed := map[string]bool{}
			for _, e := range np.Egress {
				if len(e.Ports) == 0 {
					return errors.New("an egress rule opens every port")
				}
				for _, p := range e.Ports {
					proto := corev1.ProtocolTCP
					if p.Protocol != nil {
						proto = *p.Protocol
					}
					if p.Port != nil {
						allowed[fmt.Sprintf("%s/%s", proto, p.Port.String())] = true
					}
				}
			}
			for _, want := range []string{"UDP/53", "TCP/53", "TCP/6379", "TCP/443"} {
				if !allowed[want] {
					return fmt.Errorf("egress does not allow %s (DNS, Redis, TIP)", want)
				}
			}
			return nil
		}},
		{"configmap is the pod's environment", func() error {
			for _, ef := range c.EnvFrom {
				if ef.ConfigMapRef != nil && ef.ConfigMapRef.Name == b.configMap.Name {
					return nil
				}
			}
			return fmt.Errorf("the container does not read the ConfigMap %q", b.configMap.Name)
		}},
		{"no secret in the ConfigMap or the pod spec", func() error {
			secrets := []string{"TIPGATE_TIP_PASSWORD", "TIPGATE_TIP_PFX_PASSWORD", "TIPGATE_TIP_TOKEN", "TIPGATE_REDIS_URL", "TIPGATE_TIP_USERNAME"}
			for _, s := range secrets {
				if _, ok := b.configMap.Data[s]; ok {
					return fmt.Errorf("the ConfigMap holds %s; it belongs in the Secret", s)
				}
				if _, ok := b.configMap.Data[s+"_FILE"]; ok {
					return fmt.Errorf("the ConfigMap holds %s_FILE, a path that depends on the Deployment's mount", s)
				}
				for _, e := range c.Env {
					if e.Name == s {
						return fmt.Errorf("the pod spec sets %s directly; use %s_FILE", s, s)
					}
				}
			}
			return nil
		}},
		{"secret files", func() error {
			vol, mount := b.secretVolume(t)
			items := map[string]string{} // path in the mount -> Secret key
			for _, it := range vol.Secret.Items {
				items[path.Join(mount, it.Path)] = it.Key
			}
			files := map[string]bool{}
			for _, e := range c.Env {
				if !strings.HasSuffix(e.Name, "_FILE") {
					continue
				}
				if _, ok := items[e.Value]; !ok {
					return fmt.Errorf("%s=%s is not a file the Secret volume provides (%v)", e.Name, e.Value, items)
				}
				files[e.Name] = true
			}
			for _, want := range []string{
				"TIPGATE_TIP_PFX_FILE", "TIPGATE_TIP_PFX_PASSWORD_FILE", "TIPGATE_TIP_USERNAME_FILE",
				"TIPGATE_TIP_PASSWORD_FILE", "TIPGATE_API_KEYS_FILE", "TIPGATE_REDIS_URL_FILE",
			} {
				if !files[want] {
					return fmt.Errorf("%s is not set to a file of the Secret", want)
				}
			}
			return nil
		}},
	}
	for _, tc := range checks {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.ok(); err != nil {
				t.Error(err)
			}
		})
	}
}

// TestBaseEnvironmentIsAValidConfiguration gives tipgate's own configuration
// loader the environment the pod gets (the ConfigMap, then the container's
// env, which wins), with the Secret's files filled by test data of the right
// form. Every TIPGATE_* name must be one tipgate reads and every value one it
// accepts: a misspelt variable or a bad duration fails here, not at rollout.
func TestBaseEnvironmentIsAValidConfiguration(t *testing.T) {
	b := build(t)
	c := b.container(t)
	vol, mount := b.secretVolume(t)

	env := map[string]string{}
	for k, v := range b.configMap.Data {
		env[k] = v
	}
	for _, e := range c.Env {
		if e.ValueFrom != nil {
			t.Fatalf("%s comes from valueFrom; the test only knows literal values", e.Name)
		}
		env[e.Name] = e.Value
	}
	var environ []string
	for k, v := range env {
		environ = append(environ, k+"="+v)
	}
	if unknown := config.UnknownVariables(environ); len(unknown) > 0 {
		t.Errorf("tipgate does not read %v", unknown)
	}

	secret := secretData(t)
	files := map[string][]byte{}
	for _, it := range vol.Secret.Items {
		data, ok := secret[it.Key]
		if !ok {
			t.Fatalf("the Secret volume mounts key %q, for which the test has no data (and README's kubectl command may lack it)", it.Key)
		}
		files[path.Join(mount, it.Path)] = data
	}
	readFile := func(name string) ([]byte, error) {
		if data, ok := files[name]; ok {
			return data, nil
		}
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
	}
	cfg, err := config.Load(func(k string) string { return env[k] }, readFile)
	if err != nil {
		t.Fatalf("tipgate refuses the base's configuration:\n%v", err)
	}
	if cfg.RedisURL == "" {
		t.Error("the base runs without Redis: three replicas would not share a cache or a budget")
	}
	if len(cfg.TIPPFX) == 0 || cfg.TIPUsername == "" {
		t.Error("the base does not authenticate to TIP with the PFX and Basic credentials")
	}
}

// TestReadmeCreatesTheSecret checks that README's command creating the
// Secret names every key the Deployment mounts, so following the README
// gives pods that start.
func TestReadmeCreatesTheSecret(t *testing.T) {
	b := build(t)
	vol, _ := b.secretVolume(t)
	readme, err := os.ReadFile(filepath.Join("..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(readme, []byte("create secret generic "+vol.Secret.SecretName)) {
		t.Errorf("README does not show `kubectl create secret generic %s`", vol.Secret.SecretName)
	}
	for _, it := range vol.Secret.Items {
		if !bytes.Contains(readme, []byte("--from-file="+it.Key+"=")) {
			t.Errorf("README's secret command lacks --from-file=%s=...", it.Key)
		}
	}
}

// secretData is test data for each key of the Secret, of the form tipgate
// checks: a PFX that its password opens, a keys file, a Redis URL.
func secretData(t *testing.T) map[string][]byte {
	t.Helper()
	const pfxPassword = "pfx password"
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "tipgate deploy test"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(365 * 24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pfx, err := pkcs12.Modern.Encode(key, cert, nil, pfxPassword)
	if err != nil {
		t.Fatal(err)
	}
	// As `kubectl create secret --from-file` stores files written by an
	// editor or echo: with a trailing newline, which tipgate trims.
	return map[string][]byte{
		"tip.pfx":          pfx,
		"tip_pfx_password": []byte(pfxPassword + "\n"),
		"tip_username":     []byte("tip-user\n"),
		"tip_password":     []byte("tip password\n"),
		"api_keys.json":    []byte(`{"keys": [{"name": "siem", "sha256": "` + strings.Repeat("ab", 32) + `", "roles": ["lookup"]}]}` + "\n"),
		"redis_url":        []byte("redis://:redis-password@redis.example:6379/0\n"),
	}
}
