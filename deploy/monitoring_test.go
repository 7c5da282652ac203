package deploy

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/compileo/jobqueue/internal/clustertest"
	"github.com/compileo/jobqueue/internal/proctest"
	"github.com/compileo/jobqueue/internal/redistest"
	"github.com/goccy/go-yaml"
)

// The monitoring profile's files: Prometheus's scrape configuration, and
// Grafana's provisioning and dashboard, all mounted by docker-compose.yml.
const (
	prometheusFile = "prometheus.yml"
	dashboardFile  = "grafana/jobqueue.json"
	datasourceFile = "grafana/provisioning/datasources/prometheus.yml"
	providerFile   = "grafana/provisioning/dashboards/jobqueue.yml"
)

// prometheusConfig is the part of prometheus.yml the checks read.
type prometheusConfig struct {
	ScrapeConfigs []struct {
		JobName       string `yaml:"job_name"`
		MetricsPath   string `yaml:"metrics_path"`
		StaticConfigs []struct {
			Targets []string `yaml:"targets"`
		} `yaml:"static_configs"`
		DNSSDConfigs []struct {
			Names []string `yaml:"names"`
			Type  string   `yaml:"type"`
			Port  int      `yaml:"port"`
		} `yaml:"dns_sd_configs"`
	} `yaml:"scrape_configs"`
}

// dashboard is the part of the Grafana dashboard the checks read.
type dashboard struct {
	UID        string `json:"uid"`
	Templating struct {
		List []variable `json:"list"`
	} `json:"templating"`
	Panels []panel `json:"panels"`
}

// variable is one of the dashboard's template variables.
type variable struct {
	Name       string `json:"name"`
	Type       string `json:"type"`
	Query      any    `json:"query"`
	Definition string `json:"definition"`
}

type panel struct {
	Title      string      `json:"title"`
	Type       string      `json:"type"`
	Datasource *datasource `json:"datasource"`
	Targets    []struct {
		Expr       string      `json:"expr"`
		Datasource *datasource `json:"datasource"`
	} `json:"targets"`
	Panels []panel `json:"panels"` // a collapsed row's
}

type datasource struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

func readDashboard(t *testing.T) dashboard {
	t.Helper()
	var d dashboard
	if err := json.Unmarshal([]byte(readFile(t, dashboardFile)), &d); err != nil {
		t.Fatalf("%s: %v", dashboardFile, err)
	}
	return d
}

// queries are every PromQL expression of the dashboard, by where it is:
// the panels' targets and the variables' label_values(...) queries.
func (d dashboard) queries() map[string]string {
	out := map[string]string{}
	var walk func(ps []panel)
	walk = func(ps []panel) {
		for _, p := range ps {
			for i, tg := range p.Targets {
				out[fmt.Sprintf("panel %q target %d", p.Title, i)] = tg.Expr
			}
			walk(p.Panels)
		}
	}
	walk(d.Panels)
	labelValues := regexp.MustCompile(`^label_values\((.+),\s*\w+\)$`)
	for _, v := range d.Templating.List {
		if v.Type != "query" {
			continue
		}
		m := labelValues.FindStringSubmatch(v.Definition)
		if m == nil {
			out["variable "+v.Name] = "unparsed: " + v.Definition
			continue
		}
		out["variable "+v.Name] = m[1]
	}
	return out
}

// promqlWords are the PromQL functions, aggregations and keywords the
// dashboard may use; every other name in a query must be a metric.
var promqlWords = map[string]bool{
	"sum": true, "max": true, "min": true, "avg": true, "count": true, "topk": true, "bottomk": true,
	"rate": true, "irate": true, "increase": true, "delta": true, "deriv": true,
	"histogram_quantile": true, "clamp_min": true, "clamp_max": true, "abs": true, "vector": true,
	"by": true, "without": true, "on": true, "ignoring": true, "group_left": true, "group_right": true,
	"and": true, "or": true, "unless": true, "bool": true, "offset": true,
}

var (
	// What is not a name in a query: strings, Grafana variables, label
	// matchers, range selectors, grouping labels, numbers.
	promqlStrings  = regexp.MustCompile(`"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'`)
	promqlVars     = regexp.MustCompile(`\$\{?\w+\}?`)
	promqlMatchers = regexp.MustCompile(`\{[^}]*\}`)
	promqlRanges   = regexp.MustCompile(`\[[^\]]*\]`)
	promqlGroups   = regexp.MustCompile(`\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)`)
	promqlNumbers  = regexp.MustCompile(`(^|[^\w.])\d+(\.\d+)?([eE][+-]?\d+)?`)
	promqlNames    = regexp.MustCompile(`[a-zA-Z_:][a-zA-Z0-9_:]*`)
)

// metricNames are the metric names a PromQL expression selects.
func metricNames(expr string) []string {
	s := promqlStrings.ReplaceAllString(expr, `""`)
	s = promqlVars.ReplaceAllString(s, " ")
	s = promqlMatchers.ReplaceAllString(s, " ")
	s = promqlRanges.ReplaceAllString(s, " ")
	s = promqlGroups.ReplaceAllString(s, "$1 ")
	s = promqlNumbers.ReplaceAllString(s, "$1 ")
	var names []string
	for _, w := range promqlNames.FindAllString(s, -1) {
		if !promqlWords[w] {
			names = append(names, w)
		}
	}
	return names
}

func TestMetricNames(t *testing.T) {
	t.Parallel()
	for expr, want := range map[string]string{
		`sum by (type, queue) (rate(jobqueue_job_runs_total{outcome="completed", type=~"$type"}[$__rate_interval])) * 60`: "jobqueue_job_runs_total",
		`histogram_quantile(0.95, sum by (le, route) (rate(a_bucket{route!~".*/(stream|poll)"}[5m])))`:                    "a_bucket",
		`max(x) / on (queue) group_left max by (queue) (y{q="sum"}) > 1e3`:                                                "x y",
		`jobqueue_jobs`: "jobqueue_jobs",
	} {
		if got := strings.Join(metricNames(expr), " "); got != want {
			t.Errorf("metricNames(%s) = %q, want %q", expr, got, want)
		}
	}
}

// TestDashboardQueriesExportedMetrics runs an apiserver and a worker as
// processes, runs jobs through them (one completes, one fails after a
// retry, one is cancelled while it runs), scrapes both (while the last
// job runs, and once all are done), and checks that
// every metric the dashboard's queries name is in a scrape: a renamed
// or forgotten metric would leave a panel silently empty.
func TestDashboardQueriesExportedMetrics(t *testing.T) {
	t.Parallel()
	port, err := redistest.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	workerMetrics := "http://127.0.0.1:" + strconv.Itoa(port) + "/metrics"
	cl := clustertest.Start(t, clustertest.Options{APIs: 1, Workers: 1,
		WorkerEnv: []string{"WORKER_METRICS_ADDR=127.0.0.1:" + strconv.Itoa(port), "WORKER_RETRY_BASE_DELAY=10ms"}})
	api := cl.APIs()[0].URL
	done := clustertest.Submit(t, api, `{"type": "demo", "payload": {"steps": 1, "step_ms": 0}}`)
	failed := clustertest.Submit(t, api, `{"type": "demo", "payload": {"steps": 1, "step_ms": 0, "fail_at": 1}, "max_retries": 1}`)
	long := clustertest.Submit(t, api, `{"type": "demo", "payload": {"steps": 600, "step_ms": 100}}`)
	status := func(id string) string {
		var s struct {
			Status string `json:"status"`
		}
		clustertest.GetJSON(t, api+"/api/v1/jobs/status/"+id, &s)
		return s.Status
	}
	proctest.WaitFor(t, 30*time.Second, "the long job to run", func() bool { return status(long) == "running" })
	exported := map[string]bool{}
	scrapeAll := func() {
		for _, url := range []string{api + "/metrics", workerMetrics} {
			for name, v := range scrape(t, url) {
				exported[name] = exported[name] || v > 0
			}
		}
	}
	scrapeAll() // while a job runs: the series of running jobs exist only then
	if code, _ := clustertest.PostJSON(t, api+"/api/v1/jobs/cancel/"+long, "", nil); code != http.StatusOK {
		t.Fatalf("cancel: %d", code)
	}
	proctest.WaitFor(t, 30*time.Second, "the jobs to finish", func() bool {
		return status(done) == "completed" && status(failed) == "failed"
	})
	proctest.WaitFor(t, 30*time.Second, "the worker to count the cancelled run", func() bool {
		scrapeAll()
		return exported[`jobqueue_job_runs_total{outcome="cancelled"}`]
	})

	d := readDashboard(t)
	for where, expr := range d.queries() {
		names := metricNames(expr)
		if len(names) == 0 {
			t.Errorf("%s: no metric in %q", where, expr)
		}
		for _, name := range names {
			if _, ok := exported[name]; !ok {
				t.Errorf("%s: %s is not in a scrape of the apiserver or the worker (%q)", where, name, expr)
			}
		}
	}
}

// scrape reads a /metrics page: every sample's name, and per outcome of
// the run counter the name with its outcome, with the value (summed).
func scrape(t *testing.T, url string) map[string]float64 {
	t.Helper()
	resp, err := clustertest.Client.Get(url)
	if err != nil {
		t.Fatalf("scrape %s: %v", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("scrape %s: %d", url, resp.StatusCode)
	}
	out := map[string]float64{}
	outcome := regexp.MustCompile(`outcome="(\w+)"`)
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name := line[:strings.IndexAny(line, "{ ")]
		v, _ := strconv.ParseFloat(line[strings.LastIndexByte(line, ' ')+1:], 64)
		out[name] += v
		if m := outcome.FindStringSubmatch(line); m != nil {
			out[name+`{outcome="`+m[1]+`"}`] += v
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatalf("scrape %s: %v", url, err)
	}
	return out
}

// TestMonitoringProfile checks the monitoring profile's files against the
// compose file: Prometheus scrapes every apiserver and worker where they
// serve /metrics, and Grafana finds its data source and the dashboard
// where its provisioning points.
func TestMonitoringProfile(t *testing.T) {
	t.Parallel()
	var c compose
	if err := yaml.Unmarshal([]byte(readFile(t, "../docker-compose.yml")), &c); err != nil {
		t.Fatalf("docker-compose.yml: %v", err)
	}
	pinned := regexp.MustCompile(`^[\w./-]+:v?\d+\.\d+\.\d+$`)
	for _, name := range []string{"prometheus", "grafana"} {
		s, ok := c.Services[name]
		if !ok {
			t.Fatalf("no %s service", name)
		}
		if !slices.Equal(s.Profiles, []string{"monitoring"}) {
			t.Errorf("%s: profiles %v, want [monitoring] (off by default)", name, s.Profiles)
		}
		if !pinned.MatchString(s.Image) {
			t.Errorf("%s: image %q, want a pinned x.y.z version", name, s.Image)
		}
		for _, p := range s.Ports {
			if !strings.HasPrefix(p, "127.0.0.1:") {
				t.Errorf("%s: port %q is published beyond loopback", name, p)
			}
		}
	}
	checkScrapeTargets(t, c)
	checkGrafana(t, c)
}

// listenPort is the port a compose service serves /metrics on: the
// apiserver's HTTP_ADDR, the worker's WORKER_METRICS_ADDR.
func listenPort(t *testing.T, c compose, service string) (string, bool) {
	s := c.Services[service]
	for _, env := range []string{"HTTP_ADDR", "WORKER_METRICS_ADDR"} {
		if addr := s.Environment[env]; addr != "" {
			_, port, err := net.SplitHostPort(addr)
			if err != nil {
				t.Fatalf("service %s: %s %q: %v", service, env, addr, err)
			}
			return port, true
		}
	}
	return "", false
}

func checkScrapeTargets(t *testing.T, c compose) {
	t.Helper()
	var pc prometheusConfig
	if err := yaml.Unmarshal([]byte(readFile(t, prometheusFile)), &pc); err != nil {
		t.Fatalf("%s: %v", prometheusFile, err)
	}
	scraped := map[string]bool{}
	target := func(job, service, port string) {
		want, ok := listenPort(t, c, service)
		switch {
		case !ok:
			t.Errorf("job %s: %s is not a compose service serving /metrics", job, service)
		case want != port:
			t.Errorf("job %s: scrapes %s on port %s, where it serves /metrics on %s", job, service, port, want)
		}
		scraped[service] = true
	}
	for _, sc := range pc.ScrapeConfigs {
		if sc.MetricsPath != "" && sc.MetricsPath != "/metrics" {
			t.Errorf("job %s: metrics_path %q", sc.JobName, sc.MetricsPath)
		}
		for _, st := range sc.StaticConfigs {
			for _, tg := range st.Targets {
				host, port, err := net.SplitHostPort(tg)
				if err != nil {
					t.Fatalf("job %s: target %q: %v", sc.JobName, tg, err)
				}
				target(sc.JobName, host, port)
			}
		}
		for _, dc := range sc.DNSSDConfigs {
			for _, n := range dc.Names {
				target(sc.JobName, n, strconv.Itoa(dc.Port))
			}
		}
	}
	// Every apiserver and worker is scraped.
	for name, s := range c.Services {
		if ep := strings.Join(s.Entrypoint, " "); (ep == "/usr/local/bin/apiserver" || ep == "/usr/local/bin/worker") && !scraped[name] {
			t.Errorf("%s runs %s but Prometheus does not scrape it", name, ep)
		}
	}
	prom := c.Services["prometheus"]
	config := "/etc/prometheus/prometheus.yml" // the image's default
	for _, a := range prom.Command {
		if v, ok := strings.CutPrefix(a, "--config.file="); ok {
			config = v
		}
	}
	if mountedAt(prom, "./deploy/"+prometheusFile) != config {
		t.Errorf("prometheus does not mount deploy/%s at %s: %v", prometheusFile, config, prom.Volumes)
	}
}

// mountedAt is where service s mounts the host path src ("" if not).
func mountedAt(s service, src string) string {
	for _, v := range s.Volumes {
		parts := strings.Split(v, ":")
		if len(parts) >= 2 && path.Clean(parts[0]) == path.Clean(src) {
			return parts[1]
		}
	}
	return ""
}

func checkGrafana(t *testing.T, c compose) {
	t.Helper()
	g := c.Services["grafana"]
	if mountedAt(g, "./deploy/grafana/provisioning") != "/etc/grafana/provisioning" {
		t.Errorf("grafana does not mount deploy/grafana/provisioning at /etc/grafana/provisioning: %v", g.Volumes)
	}
	// The provider loads the directory where the dashboard is mounted.
	var provider struct {
		Providers []struct {
			Type    string `yaml:"type"`
			Options struct {
				Path string `yaml:"path"`
			} `yaml:"options"`
		} `yaml:"providers"`
	}
	if err := yaml.Unmarshal([]byte(readFile(t, providerFile)), &provider); err != nil || len(provider.Providers) != 1 {
		t.Fatalf("%s: %v, %d providers", providerFile, err, len(provider.Providers))
	}
	at := mountedAt(g, "./deploy/"+dashboardFile)
	if p := provider.Providers[0]; p.Type != "file" || at == "" || path.Dir(at) != path.Clean(p.Options.Path) {
		t.Errorf("the dashboard is mounted at %q, the provider loads %s %q", at, p.Type, p.Options.Path)
	}
	if home := g.Environment["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]; home != "" && home != at {
		t.Errorf("the home dashboard %q is not the mounted one %q", home, at)
	}
	// The data source is the compose file's Prometheus, on its port.
	var ds struct {
		Datasources []struct {
			Type      string `yaml:"type"`
			URL       string `yaml:"url"`
			IsDefault bool   `yaml:"isDefault"`
		} `yaml:"datasources"`
	}
	if err := yaml.Unmarshal([]byte(readFile(t, datasourceFile)), &ds); err != nil || len(ds.Datasources) != 1 {
		t.Fatalf("%s: %v, %d data sources", datasourceFile, err, len(ds.Datasources))
	}
	if d := ds.Datasources[0]; d.Type != "prometheus" || d.URL != "http://prometheus:9090" || !d.IsDefault {
		t.Errorf("data source %+v: want the default, prometheus at http://prometheus:9090", d)
	}
	// Every query of the dashboard asks the data source its variable picks,
	// so the dashboard works imported into another Grafana too.
	d := readDashboard(t)
	if d.UID == "" || !slices.ContainsFunc(d.Templating.List, func(v variable) bool {
		return v.Name == "datasource" && v.Type == "datasource" && v.Query == "prometheus"
	}) {
		t.Fatal("the dashboard has no uid or no prometheus datasource variable")
	}
	want := datasource{Type: "prometheus", UID: "${datasource}"}
	var walk func(ps []panel)
	walk = func(ps []panel) {
		for _, p := range ps {
			if p.Type != "row" && (p.Datasource == nil || *p.Datasource != want) {
				t.Errorf("panel %q: data source %+v, want %+v", p.Title, p.Datasource, want)
			}
			for _, tg := range p.Targets {
				if tg.Datasource != nil && *tg.Datasource != want {
					t.Errorf("panel %q: a target's data source %+v", p.Title, tg.Datasource)
				}
			}
			walk(p.Panels)
		}
	}
	walk(d.Panels)
}
