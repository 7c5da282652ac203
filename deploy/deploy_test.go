// Package deploy holds the container, load-balancer and monitoring
// configuration (Dockerfile, nginx.conf, prometheus.yml, grafana/;
// docker-compose.yml sits at the repository's top). No Docker engine runs here, so this test checks that the files
// agree with each other and with the commands they start; the end-to-end
// tests run the same topology as processes behind a real nginx.
package deploy

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/goccy/go-yaml"
)

// compose is the part of docker-compose.yml the checks read.
type compose struct {
	Services map[string]service `yaml:"services"`
}

// service is one service of docker-compose.yml.
type service struct {
	Image       string            `yaml:"image"`
	Build       map[string]string `yaml:"build"`
	Profiles    []string          `yaml:"profiles"`
	Command     []string          `yaml:"command"`
	Entrypoint  []string          `yaml:"entrypoint"`
	Environment map[string]string `yaml:"environment"`
	Volumes     []string          `yaml:"volumes"`
	Ports       []string          `yaml:"ports"`
	Restart     string            `yaml:"restart"`
	StopGrace   string            `yaml:"stop_grace_period"`
	Healthcheck map[string]any    `yaml:"healthcheck"`
	Ulimits     struct {
		Nofile struct {
			Soft int `yaml:"soft"`
			Hard int `yaml:"hard"`
		} `yaml:"nofile"`
	} `yaml:"ulimits"`
	DependsOn any `yaml:"depends_on"`
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestComposeTopology(t *testing.T) {
	var c compose
	if err := yaml.Unmarshal([]byte(readFile(t, "../docker-compose.yml")), &c); err != nil {
		t.Fatalf("docker-compose.yml: %v", err)
	}
	for name, s := range c.Services {
		if s.Restart == "" {
			t.Errorf("service %s: no restart policy", name)
		}
	}

	redis := c.Services["redis"]
	cmd := strings.Join(redis.Command, " ")
	for _, want := range []string{"--appendonly yes", "--maxmemory-policy noeviction", "--zset-max-listpack-entries 16"} {
		if !strings.Contains(cmd, want) {
			t.Errorf("redis command %q lacks %q (jobs must survive restarts and never be evicted)", cmd, want)
		}
	}
	if redis.Healthcheck == nil {
		t.Error("redis has no healthcheck")
	}

	// The apiservers nginx balances over must be services listening where
	// nginx.conf sends traffic.
	upstreams := regexp.MustCompile(`(?m)^\s*server\s+([\w.-]+):(\d+)`).FindAllStringSubmatch(readFile(t, "nginx.conf"), -1)
	if len(upstreams) < 2 {
		t.Fatalf("nginx.conf: %d upstream servers, want at least 2", len(upstreams))
	}
	for _, u := range upstreams {
		s, ok := c.Services[u[1]]
		if !ok {
			t.Errorf("nginx upstream %s is not a compose service", u[1])
			continue
		}
		if got := s.Environment["HTTP_ADDR"]; got != ":"+u[2] {
			t.Errorf("service %s listens on HTTP_ADDR %q, nginx sends to port %s", u[1], got, u[2])
		}
		if !slices.Equal(s.Entrypoint, []string{"/usr/local/bin/apiserver"}) {
			t.Errorf("service %s entrypoint %v, want the apiserver", u[1], s.Entrypoint)
		}
		if !strings.HasPrefix(s.Environment["REDIS_URL"], "redis://redis:") {
			t.Errorf("service %s REDIS_URL %q: want the compose redis (without it an apiserver runs dev mode)", u[1], s.Environment["REDIS_URL"])
		}
		// Streams and long polls hold a descriptor each: room for
		// thousands, beyond the usual default of 1024.
		if n := s.Ulimits.Nofile; n.Soft < 65536 || n.Hard < n.Soft {
			t.Errorf("service %s: ulimits nofile %+v, want 65536 or more", u[1], n)
		}
		if s.Environment["API_TRUSTED_PROXIES"] == "" || len(s.Ports) > 0 {
			t.Errorf("service %s: behind nginx it must trust nginx's X-Forwarded-For and publish no port of its own", u[1])
		}
		// Keys come from the operator's environment, required: never a
		// secret in the file, never an open API by default.
		if !strings.HasPrefix(s.Environment["API_KEYS"], "${API_KEYS:?") {
			t.Errorf("service %s API_KEYS %q: want ${API_KEYS:?...}, required from the environment", u[1], s.Environment["API_KEYS"])
		}
	}

	w := c.Services["worker"]
	if !slices.Equal(w.Entrypoint, []string{"/usr/local/bin/worker"}) {
		t.Errorf("worker entrypoint %v", w.Entrypoint)
	}
	if len(w.Ports) > 0 {
		t.Error("worker publishes ports: it could not scale with --scale worker=N")
	}
	grace, err1 := time.ParseDuration(w.StopGrace)
	drain, err2 := time.ParseDuration(w.Environment["WORKER_SHUTDOWN_TIMEOUT"])
	if err1 != nil || err2 != nil || grace <= drain {
		t.Errorf("worker stop_grace_period %q must exceed WORKER_SHUTDOWN_TIMEOUT %q, or docker kills running jobs before they are put back",
			w.StopGrace, w.Environment["WORKER_SHUTDOWN_TIMEOUT"])
	}

	py := c.Services["python-worker"]
	if !strings.HasPrefix(py.Environment["JOBQUEUE_URL"], "http://nginx:") || len(py.Ports) > 0 {
		t.Errorf("python-worker: JOBQUEUE_URL %q, ports %v: want the API through nginx, and no port of its own",
			py.Environment["JOBQUEUE_URL"], py.Ports)
	}
	if !strings.HasPrefix(py.Environment["JOBQUEUE_API_KEY"], "${WORKER_API_KEY:?") {
		t.Errorf("python-worker JOBQUEUE_API_KEY %q: want ${WORKER_API_KEY:?...}, required from the environment", py.Environment["JOBQUEUE_API_KEY"])
	}
	if grace, err := time.ParseDuration(py.StopGrace); err != nil || grace <= 30*time.Second {
		t.Errorf("python-worker stop_grace_period %q must exceed the SDK worker's 30 s grace period", py.StopGrace)
	}
	df := readFile(t, "python-worker.Dockerfile")
	for _, want := range []string{"COPY sdk/python/src", "COPY sdk/python/examples/worker.py", "USER nobody"} {
		if !strings.Contains(df, want) {
			t.Errorf("python-worker.Dockerfile lacks %q", want)
		}
	}

	lb := c.Services["nginx"]
	if lb.Ulimits.Nofile.Soft < 65536 {
		t.Errorf("nginx: ulimits nofile %+v, want 65536 or more (two descriptors per stream)", lb.Ulimits.Nofile)
	}
	if !slices.ContainsFunc(lb.Volumes, func(v string) bool { return strings.HasPrefix(v, "./deploy/nginx.conf:") }) {
		t.Errorf("nginx does not mount deploy/nginx.conf: %v", lb.Volumes)
	}
}

// TestNginxSSESafe checks the settings SSE and long polls need behind
// nginx: no buffering, and a read timeout above the 300 s poll maximum.
func TestNginxSSESafe(t *testing.T) {
	conf := readFile(t, "nginx.conf")
	if !regexp.MustCompile(`proxy_buffering\s+off;`).MatchString(conf) {
		t.Error("nginx.conf: proxy_buffering is not off: SSE events would be held back")
	}
	m := regexp.MustCompile(`proxy_read_timeout\s+(\d+)s;`).FindStringSubmatch(conf)
	if m == nil {
		t.Fatal("nginx.conf: no proxy_read_timeout in seconds")
	}
	if d, _ := time.ParseDuration(m[1] + "s"); d <= 300*time.Second {
		t.Errorf("proxy_read_timeout %s: long polls last up to 300 s", d)
	}
}

// TestDockerfileBuildsEveryCommand: each command the compose file starts
// is built into the image.
func TestDockerfileBuildsEveryCommand(t *testing.T) {
	df := readFile(t, "Dockerfile")
	for _, cmd := range []string{"apiserver", "worker"} {
		if !strings.Contains(df, "-o /out/"+cmd+" ./cmd/"+cmd) {
			t.Errorf("Dockerfile does not build cmd/%s", cmd)
		}
	}
	if !strings.Contains(df, "USER nonroot") {
		t.Error("Dockerfile: the image must run as non-root")
	}
}

// TestComposeConfig validates docker-compose.yml with a compose tool when
// one is installed (CI installs docker-compose; there is no Docker engine,
// which `config` does not need).
func TestComposeConfig(t *testing.T) {
	bin, err := exec.LookPath("docker-compose")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("CI: docker-compose is not installed")
		}
		t.Skip("docker-compose not installed (CI installs it)")
	}
	// With and without the monitoring profile (Prometheus and Grafana).
	for _, args := range [][]string{{"config", "-q"}, {"--profile", "monitoring", "config", "-q"}} {
		cmd := exec.Command(bin, append([]string{"-f", "../docker-compose.yml"}, args...)...)
		cmd.Env = append(os.Environ(), "API_KEYS=ops:admin:k3J9_xQ2-vLp8ZrT4mWn6yBc1Hd5Gf7Ea0Us",
			"WORKER_API_KEY=k3J9_xQ2-vLp8ZrT4mWn6yBc1Hd5Gf7Ea0Ut")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("docker-compose %v: %v\n%s", args, err, out)
		}
	}
	// Without keys, compose refuses to start the apiservers.
	cmd := exec.Command(bin, "-f", "../docker-compose.yml", "config", "-q")
	for _, e := range os.Environ() {
		if !strings.HasPrefix(e, "API_KEYS=") {
			cmd.Env = append(cmd.Env, e)
		}
	}
	if out, err := cmd.CombinedOutput(); err == nil || !strings.Contains(string(out), "jobctl keygen") {
		t.Errorf("docker-compose config without API_KEYS: %v\n%s", err, out)
	}
}

// k8sObject is the part of a Kubernetes manifest the checks read.
type k8sObject struct {
	Kind     string `yaml:"kind"`
	Metadata struct {
		Name        string            `yaml:"name"`
		Annotations map[string]string `yaml:"annotations"`
	} `yaml:"metadata"`
	Spec struct {
		Replicas int `yaml:"replicas"`
		Template struct {
			Spec struct {
				TerminationGracePeriodSeconds int `yaml:"terminationGracePeriodSeconds"`
				Containers                    []struct {
					Command []string `yaml:"command"`
					Env     []struct {
						Name      string `yaml:"name"`
						Value     string `yaml:"value"`
						ValueFrom struct {
							SecretKeyRef *struct {
								Name     string `yaml:"name"`
								Optional bool   `yaml:"optional"`
							} `yaml:"secretKeyRef"`
						} `yaml:"valueFrom"`
					} `yaml:"env"`
					ReadinessProbe map[string]any `yaml:"readinessProbe"`
					LivenessProbe  map[string]any `yaml:"livenessProbe"`
				} `yaml:"containers"`
			} `yaml:"spec"`
		} `yaml:"template"`
	} `yaml:"spec"`
}

// TestKubernetesManifests checks deploy/k8s the way TestComposeTopology
// checks compose: the same topology, and the settings that keep jobs.
func TestKubernetesManifests(t *testing.T) {
	objs := map[string]k8sObject{}
	files, _ := filepath.Glob("k8s/*.yaml")
	if len(files) == 0 {
		t.Fatal("no manifests in deploy/k8s")
	}
	for _, f := range files {
		for i, doc := range strings.Split(readFile(t, f), "\n---\n") {
			var o k8sObject
			if err := yaml.Unmarshal([]byte(doc), &o); err != nil || o.Kind == "" {
				t.Fatalf("%s document %d: %v", f, i+1, err)
			}
			objs[o.Kind+"/"+o.Metadata.Name] = o
		}
	}
	env := func(o k8sObject, name string) string {
		for _, e := range o.Spec.Template.Spec.Containers[0].Env {
			if e.Name == name {
				return e.Value
			}
		}
		return ""
	}
	for _, want := range []string{"StatefulSet/redis", "Service/redis", "Deployment/apiserver", "Service/apiserver", "Ingress/apiserver", "Deployment/worker"} {
		if _, ok := objs[want]; !ok {
			t.Fatalf("deploy/k8s lacks %s", want)
		}
	}
	redisDoc := readFile(t, "k8s/redis.yaml")
	for _, want := range []string{`"--appendonly", "yes"`, `"--maxmemory-policy", "noeviction"`} {
		if !strings.Contains(redisDoc, want) {
			t.Errorf("k8s/redis.yaml: the redis args lack %s", want)
		}
	}
	api := objs["Deployment/apiserver"]
	if api.Spec.Replicas < 2 || !strings.HasPrefix(env(api, "REDIS_URL"), "redis://redis:") ||
		api.Spec.Template.Spec.Containers[0].ReadinessProbe == nil || api.Spec.Template.Spec.Containers[0].LivenessProbe == nil {
		t.Errorf("apiserver: want 2+ replicas on the redis service with readiness and liveness probes: %+v", api.Spec)
	}
	keys := false
	for _, e := range api.Spec.Template.Spec.Containers[0].Env {
		if ref := e.ValueFrom.SecretKeyRef; e.Name == "API_KEYS" && ref != nil && !ref.Optional {
			keys = true
		}
	}
	if !keys {
		t.Error("apiserver: API_KEYS must come from a required secret (without keys it refuses to start)")
	}
	shutdown, _ := time.ParseDuration(env(api, "API_SHUTDOWN_TIMEOUT"))
	if time.Duration(api.Spec.Template.Spec.TerminationGracePeriodSeconds)*time.Second <= shutdown {
		t.Errorf("apiserver grace period must exceed API_SHUTDOWN_TIMEOUT %s", shutdown)
	}
	w := objs["Deployment/worker"]
	drain, err := time.ParseDuration(env(w, "WORKER_SHUTDOWN_TIMEOUT"))
	if err != nil || time.Duration(w.Spec.Template.Spec.TerminationGracePeriodSeconds)*time.Second <= drain {
		t.Errorf("worker terminationGracePeriodSeconds %d must exceed WORKER_SHUTDOWN_TIMEOUT %q",
			w.Spec.Template.Spec.TerminationGracePeriodSeconds, env(w, "WORKER_SHUTDOWN_TIMEOUT"))
	}
	ing := objs["Ingress/apiserver"].Metadata.Annotations
	if ing["nginx.ingress.kubernetes.io/proxy-buffering"] != "off" {
		t.Error("ingress: proxy buffering must be off for SSE")
	}
	if s, _ := strconv.Atoi(ing["nginx.ingress.kubernetes.io/proxy-read-timeout"]); s <= 300 {
		t.Errorf("ingress proxy-read-timeout %q: long polls last up to 300 s", ing["nginx.ingress.kubernetes.io/proxy-read-timeout"])
	}
}

// TestNginxPassesHost: the API refuses cross-site requests by comparing
// a browser's Origin with Host, so nginx must pass the Host the browser
// sent, port included ($host drops the port).
func TestNginxPassesHost(t *testing.T) {
	if !regexp.MustCompile(`proxy_set_header\s+Host\s+\$http_host;`).MatchString(readFile(t, "nginx.conf")) {
		t.Error("nginx.conf: want proxy_set_header Host $http_host")
	}
}
