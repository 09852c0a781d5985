// Command render renders a Helm v3 chart the way `helm template` does, without Helm.
//
// Helm cannot be installed on the machines that test this chart, but its template engine is
// small: Go's text/template, the sprig function library (Debian ships both), and a handful of
// Helm's own functions and objects. This program provides those (include, tpl, required,
// toYaml/fromYaml/toJson/fromJson, lookup → empty, .Values/.Release/.Chart/.Capabilities/
// .Template/.Files) with Helm's semantics: values are read through JSON (numbers are float64),
// user values are coalesced over the chart's values.yaml (null deletes a key), missing keys
// render as empty, and files starting with "_" only define templates.
//
// Output is one JSON document on stdout:
//
//	{"manifests":[{"source":"slipstream/templates/x.yaml","content":"..."}],
//	 "notes":"...", "values":{...merged values...}}
//
// Errors (a failing `required`, a template syntax error, a bad values file) go to stderr
// with exit status 1, as Helm reports them.
package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"text/template"

	"github.com/Masterminds/semver/v3"
	"github.com/Masterminds/sprig/v3"
	yamlv2 "gopkg.in/yaml.v2"
	yamlv3 "gopkg.in/yaml.v3"
)

type stringList []string

func (s *stringList) String() string     { return strings.Join(*s, ",") }
func (s *stringList) Set(v string) error { *s = append(*s, v); return nil }

// Chart mirrors the fields of Helm's chart.Metadata that templates reach through .Chart.
type Chart struct {
	APIVersion   string
	Name         string
	Version      string
	AppVersion   string
	Description  string
	Type         string
	KubeVersion  string
	Home         string
	Icon         string
	Keywords     []string
	Sources      []string
	Annotations  map[string]string
	Deprecated   bool
	Dependencies []interface{}
	Maintainers  []interface{}
}

type chartFile struct {
	APIVersion  string            `yaml:"apiVersion"`
	Name        string            `yaml:"name"`
	Version     string            `yaml:"version"`
	AppVersion  string            `yaml:"appVersion"`
	Description string            `yaml:"description"`
	Type        string            `yaml:"type"`
	KubeVersion string            `yaml:"kubeVersion"`
	Home        string            `yaml:"home"`
	Icon        string            `yaml:"icon"`
	Keywords    []string          `yaml:"keywords"`
	Sources     []string          `yaml:"sources"`
	Annotations map[string]string `yaml:"annotations"`
}

// Release mirrors Helm's release information.
type Release struct {
	Name      string
	Namespace string
	IsInstall bool
	IsUpgrade bool
	Revision  int
	Service   string
}

// KubeVersion mirrors chartutil.KubeVersion.
type KubeVersion struct {
	Version    string
	Major      string
	Minor      string
	GitVersion string
}

func (k KubeVersion) String() string { return k.Version }

// VersionSet mirrors chartutil.VersionSet.
type VersionSet []string

// Has reports whether an apiVersion (or apiVersion/Kind) is served by the cluster.
func (v VersionSet) Has(apiVersion string) bool {
	for _, x := range v {
		if x == apiVersion {
			return true
		}
	}
	return false
}

// Capabilities mirrors chartutil.Capabilities.
type Capabilities struct {
	KubeVersion KubeVersion
	APIVersions VersionSet
	HelmVersion map[string]string
}

// TemplateInfo mirrors the .Template object.
type TemplateInfo struct {
	Name     string
	BasePath string
}

// Files gives templates read access to the chart's non-template files, like Helm's .Files.
type Files map[string][]byte

// Get returns a file's content, or "" when it does not exist.
func (f Files) Get(name string) string { return string(f[name]) }

// GetBytes returns a file's content as bytes.
func (f Files) GetBytes(name string) []byte { return f[name] }

// Lines splits a file into lines.
func (f Files) Lines(name string) []string {
	if f[name] == nil {
		return []string{}
	}
	return strings.Split(string(f[name]), "\n")
}

// Glob returns the files whose path matches the pattern.
func (f Files) Glob(pattern string) Files {
	out := Files{}
	for name, data := range f {
		if ok, _ := path.Match(pattern, name); ok {
			out[name] = data
		}
	}
	return out
}

type manifest struct {
	Source  string `json:"source"`
	Content string `json:"content"`
}

type output struct {
	Manifests []manifest             `json:"manifests"`
	Notes     string                 `json:"notes"`
	Values    map[string]interface{} `json:"values"`
}

func main() {
	var valueFiles stringList
	chartDir := flag.String("chart", "", "chart directory")
	name := flag.String("name", "slipstream", "release name")
	namespace := flag.String("namespace", "slipstream", "release namespace")
	kubeVersion := flag.String("kube-version", "v1.35.0", "Kubernetes version for .Capabilities")
	var apiVersions stringList
	upgrade := flag.Bool("is-upgrade", false, "render as an upgrade instead of an install")
	flag.Var(&valueFiles, "values", "values file (repeatable, later files win)")
	flag.Var(&apiVersions, "api-versions", "extra apiVersion for .Capabilities.APIVersions (repeatable)")
	flag.Parse()
	if *chartDir == "" {
		fail(errors.New("--chart is required"))
	}
	out, err := render(*chartDir, valueFiles, *name, *namespace, *kubeVersion, apiVersions, *upgrade)
	if err != nil {
		fail(err)
	}
	enc := json.NewEncoder(os.Stdout)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(out); err != nil {
		fail(err)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "Error:", err)
	os.Exit(1)
}

func render(chartDir string, valueFiles []string, name, namespace, kubeVersion string,
	apiVersions []string, upgrade bool) (*output, error) {
	chart, err := loadChart(chartDir)
	if err != nil {
		return nil, err
	}
	if err := checkKubeVersion(chart, kubeVersion); err != nil {
		return nil, err
	}
	values, err := readValuesFile(filepath.Join(chartDir, "values.yaml"))
	if err != nil {
		return nil, err
	}
	for _, f := range valueFiles {
		user, err := readValuesFile(f)
		if err != nil {
			return nil, err
		}
		values = coalesce(user, values)
	}
	files, templates, err := loadFiles(chartDir)
	if err != nil {
		return nil, err
	}
	major, minor := splitVersion(kubeVersion)
	top := map[string]interface{}{
		"Values": values,
		"Chart":  chart,
		"Release": Release{Name: name, Namespace: namespace, IsInstall: !upgrade, IsUpgrade: upgrade,
			Revision: 1, Service: "Helm"},
		"Capabilities": Capabilities{
			KubeVersion: KubeVersion{Version: kubeVersion, Major: major, Minor: minor, GitVersion: kubeVersion},
			APIVersions: append(VersionSet{"v1", "apps/v1", "batch/v1", "rbac.authorization.k8s.io/v1"}, apiVersions...),
			HelmVersion: map[string]string{"version": "v3.17.0"},
		},
		"Files": files,
	}
	return execute(chart.Name, templates, top, values)
}

// checkKubeVersion refuses a cluster version outside Chart.yaml's kubeVersion, as Helm does.
func checkKubeVersion(chart *Chart, kubeVersion string) error {
	if chart.KubeVersion == "" {
		return nil
	}
	constraint, err := semver.NewConstraint(chart.KubeVersion)
	if err != nil {
		return fmt.Errorf("Chart.yaml: invalid kubeVersion %q: %w", chart.KubeVersion, err)
	}
	version, err := semver.NewVersion(kubeVersion)
	if err != nil {
		return fmt.Errorf("invalid --kube-version %q: %w", kubeVersion, err)
	}
	if !constraint.Check(version) {
		return fmt.Errorf("chart requires kubeVersion: %s which is incompatible with Kubernetes %s",
			chart.KubeVersion, kubeVersion)
	}
	return nil
}

func splitVersion(v string) (string, string) {
	parts := strings.SplitN(strings.TrimPrefix(v, "v"), ".", 3)
	if len(parts) < 2 {
		return parts[0], "0"
	}
	return parts[0], parts[1]
}

func loadChart(dir string) (*Chart, error) {
	data, err := os.ReadFile(filepath.Join(dir, "Chart.yaml"))
	if err != nil {
		return nil, fmt.Errorf("reading Chart.yaml: %w", err)
	}
	var cf chartFile
	if err := yamlv2.UnmarshalStrict(data, &cf); err != nil {
		return nil, fmt.Errorf("Chart.yaml: %w", err)
	}
	if cf.APIVersion != "v2" {
		return nil, fmt.Errorf("Chart.yaml: apiVersion must be v2, got %q", cf.APIVersion)
	}
	if cf.Name == "" || cf.Version == "" {
		return nil, errors.New("Chart.yaml: name and version are required")
	}
	return &Chart{APIVersion: cf.APIVersion, Name: cf.Name, Version: cf.Version, AppVersion: cf.AppVersion,
		Description: cf.Description, Type: cf.Type, KubeVersion: cf.KubeVersion, Home: cf.Home, Icon: cf.Icon,
		Keywords: cf.Keywords, Sources: cf.Sources, Annotations: cf.Annotations}, nil
}

// readValuesFile parses YAML and passes it through JSON, as Helm (sigs.k8s.io/yaml) does:
// maps get string keys and every number becomes a float64.
func readValuesFile(file string) (map[string]interface{}, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("reading values: %w", err)
	}
	var raw interface{}
	if err := yamlv3.Unmarshal(data, &raw); err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	if raw == nil {
		return map[string]interface{}{}, nil
	}
	asJSON, err := json.Marshal(raw)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	values := map[string]interface{}{}
	if err := json.Unmarshal(asJSON, &values); err != nil {
		return nil, fmt.Errorf("%s: values must be a mapping: %w", file, err)
	}
	return values, nil
}

// coalesce merges src over dst like Helm: maps merge recursively, anything else replaces,
// and an explicit null in src deletes the key.
func coalesce(src, dst map[string]interface{}) map[string]interface{} {
	out := map[string]interface{}{}
	for k, v := range dst {
		out[k] = v
	}
	for k, v := range src {
		if v == nil {
			delete(out, k)
			continue
		}
		srcMap, srcIsMap := v.(map[string]interface{})
		dstMap, dstIsMap := out[k].(map[string]interface{})
		if srcIsMap && dstIsMap {
			out[k] = coalesce(srcMap, dstMap)
		} else {
			out[k] = v
		}
	}
	return out
}

// loadFiles returns every chart file (for .Files) and the templates (path → text).
func loadFiles(dir string) (Files, map[string]string, error) {
	files := Files{}
	templates := map[string]string{}
	err := filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
		if err != nil || info.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		rel = filepath.ToSlash(rel)
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if strings.HasPrefix(rel, "templates/") {
			templates[rel] = string(data)
		} else {
			files[rel] = data
		}
		return nil
	})
	return files, templates, err
}

func execute(chartName string, templates map[string]string, top map[string]interface{},
	values map[string]interface{}) (*output, error) {
	root := template.New("root")
	root.Option("missingkey=zero")
	root.Funcs(funcMap(root))
	names := make([]string, 0, len(templates))
	for rel := range templates {
		names = append(names, rel)
	}
	sort.Strings(names)
	for _, rel := range names {
		full := chartName + "/" + rel
		if _, err := root.New(full).Parse(templates[rel]); err != nil {
			return nil, fmt.Errorf("parse error in %s: %w", full, err)
		}
	}
	out := &output{Manifests: []manifest{}, Values: values}
	for _, rel := range names {
		base := path.Base(rel)
		if strings.HasPrefix(base, "_") {
			continue
		}
		full := chartName + "/" + rel
		text, err := executeOne(root, full, chartName, top)
		if err != nil {
			return nil, err
		}
		if base == "NOTES.txt" {
			out.Notes = text
			continue
		}
		if strings.TrimSpace(text) == "" {
			continue
		}
		out.Manifests = append(out.Manifests, manifest{Source: full, Content: text})
	}
	return out, nil
}

func executeOne(root *template.Template, full, chartName string, top map[string]interface{}) (string, error) {
	data := map[string]interface{}{}
	for k, v := range top {
		data[k] = v
	}
	data["Template"] = TemplateInfo{Name: full, BasePath: chartName + "/templates"}
	var buf bytes.Buffer
	if err := root.ExecuteTemplate(&buf, full, data); err != nil {
		return "", fmt.Errorf("render error in %s: %w", full, err)
	}
	// Helm replaces the text/template marker for missing values with nothing.
	return strings.ReplaceAll(buf.String(), "<no value>", ""), nil
}

const maxIncludeDepth = 1000

func funcMap(root *template.Template) template.FuncMap {
	f := sprig.TxtFuncMap()
	// Helm removes these two: templates must not read the renderer's environment.
	delete(f, "env")
	delete(f, "expandenv")
	depth := map[string]int{}
	f["include"] = func(name string, data interface{}) (string, error) {
		depth[name]++
		defer func() { depth[name]-- }()
		if depth[name] > maxIncludeDepth {
			return "", fmt.Errorf("rendering template has a nested reference name: %s", name)
		}
		var buf bytes.Buffer
		if err := root.ExecuteTemplate(&buf, name, data); err != nil {
			return "", err
		}
		return buf.String(), nil
	}
	f["tpl"] = func(text string, data interface{}) (string, error) {
		clone, err := root.Clone()
		if err != nil {
			return "", err
		}
		t, err := clone.New("tpl").Parse(text)
		if err != nil {
			return "", fmt.Errorf("cannot parse tpl text: %w", err)
		}
		var buf bytes.Buffer
		if err := t.Execute(&buf, data); err != nil {
			return "", err
		}
		return strings.ReplaceAll(buf.String(), "<no value>", ""), nil
	}
	f["required"] = func(msg string, val interface{}) (interface{}, error) {
		if val == nil {
			return nil, errors.New(msg)
		}
		if s, ok := val.(string); ok && s == "" {
			return nil, errors.New(msg)
		}
		return val, nil
	}
	f["toYaml"] = toYAML
	f["fromYaml"] = fromYAML
	f["fromYamlArray"] = fromYAMLArray
	f["toJson"] = toJSON
	f["fromJson"] = fromJSON
	f["fromJsonArray"] = fromJSONArray
	// No cluster here: lookup finds nothing, as under `helm template`.
	f["lookup"] = func(apiVersion, kind, namespace, name string) (map[string]interface{}, error) {
		return map[string]interface{}{}, nil
	}
	return f
}

// toYAML marshals like sigs.k8s.io/yaml: through JSON (field tags, sorted keys) into YAML.
func toYAML(v interface{}) string {
	asJSON, err := json.Marshal(v)
	if err != nil {
		return ""
	}
	var generic interface{}
	if err := yamlv2.Unmarshal(asJSON, &generic); err != nil {
		return ""
	}
	out, err := yamlv2.Marshal(generic)
	if err != nil {
		return ""
	}
	return strings.TrimSuffix(string(out), "\n")
}

func yamlToJSONValue(text string, target interface{}) error {
	var raw interface{}
	if err := yamlv3.Unmarshal([]byte(text), &raw); err != nil {
		return err
	}
	asJSON, err := json.Marshal(raw)
	if err != nil {
		return err
	}
	return json.Unmarshal(asJSON, target)
}

func fromYAML(text string) map[string]interface{} {
	m := map[string]interface{}{}
	if err := yamlToJSONValue(text, &m); err != nil {
		m["Error"] = err.Error()
	}
	return m
}

func fromYAMLArray(text string) []interface{} {
	a := []interface{}{}
	if err := yamlToJSONValue(text, &a); err != nil {
		a = []interface{}{err.Error()}
	}
	return a
}

func toJSON(v interface{}) string {
	data, err := json.Marshal(v)
	if err != nil {
		return ""
	}
	return string(data)
}

func fromJSON(text string) map[string]interface{} {
	m := map[string]interface{}{}
	if err := json.Unmarshal([]byte(text), &m); err != nil {
		m["Error"] = err.Error()
	}
	return m
}

func fromJSONArray(text string) []interface{} {
	a := []interface{}{}
	if err := json.Unmarshal([]byte(text), &a); err != nil {
		a = []interface{}{err.Error()}
	}
	return a
}
