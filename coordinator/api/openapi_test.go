package api_test

// These tests keep docs/openapi.yaml, docs/api.md and the routes the
// coordinator serves in step:
//
//   - every route registered in coordinator/api/*.go and coordinator/server.go
//     (found by reading their source for "METHOD /path" patterns) is in the
//     spec, and every operation in the spec is registered;
//   - every operation is served by the real coordinator's handler, and
//     answers the roles its x-roles lists (403 for the others, 401 without a
//     token), or needs no API token where the spec says `security: []`;
//   - every operation appears as "METHOD /path" in docs/api.md, and its
//     description says "Roles: …" as x-roles does;
//   - every $ref resolves and every {param} of a path is declared.

import (
	"encoding/json"
	"go/ast"
	"go/parser"
	"go/token"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/vigil-cc/vigil/internal/coordtest"
)

const (
	specPath   = "../../docs/openapi.yaml"
	apiDocPath = "../../docs/api.md"
)

// routeSources are the files that register routes on the coordinator's mux.
var routeSources = []string{"*.go", "../server.go"}

var allRoles = []string{"admin", "supervisor", "integration"}

var httpMethods = []string{"get", "put", "post", "delete", "options", "head", "patch", "trace"}

// specOp is one operation of the spec.
type specOp struct {
	Method, Path string
	Roles        []string // x-roles; nil when absent
	HasRoles     bool
	Security     []any // the operation's own security; nil when absent
	HasSecurity  bool
	Description  string
	PathParams   []string // declared path parameters
}

func (o specOp) key() string { return o.Method + " " + o.Path }

type spec struct {
	raw map[string]any
	ops map[string]specOp
}

func loadSpec(t *testing.T) spec {
	t.Helper()
	b, err := os.ReadFile(specPath)
	if err != nil {
		t.Fatalf("reading the spec: %v", err)
	}
	var raw map[string]any
	if err := yaml.Unmarshal(b, &raw); err != nil {
		t.Fatalf("%s is not valid YAML: %v", specPath, err)
	}
	if v := raw["openapi"]; v != "3.0.3" {
		t.Errorf("%s: openapi is %v, want 3.0.3", specPath, v)
	}
	paths, ok := raw["paths"].(map[string]any)
	if !ok || len(paths) == 0 {
		t.Fatalf("%s has no paths", specPath)
	}
	s := spec{raw: raw, ops: map[string]specOp{}}
	for path, item := range paths {
		item, ok := item.(map[string]any)
		if !ok {
			t.Errorf("%s: path %s is not a mapping", specPath, path)
			continue
		}
		for key, v := range item {
			if !slices.Contains(httpMethods, key) {
				if key != "summary" && key != "description" && key != "servers" {
					t.Errorf("%s: %s has %q; declare parameters on each operation", specPath, path, key)
				}
				continue
			}
			op, ok := v.(map[string]any)
			if !ok {
				t.Errorf("%s: %s %s is not a mapping", specPath, key, path)
				continue
			}
			o := specOp{Method: strings.ToUpper(key), Path: path}
			o.Description, _ = op["description"].(string)
			if r, ok := op["x-roles"]; ok {
				o.HasRoles = true
				list, _ := r.([]any)
				for _, x := range list {
					o.Roles = append(o.Roles, toString(x))
				}
			}
			if sec, ok := op["security"]; ok {
				o.HasSecurity = true
				o.Security, _ = sec.([]any)
			}
			params, _ := op["parameters"].([]any)
			for _, p := range params {
				p := s.resolve(t, p)
				if p["in"] == "path" {
					o.PathParams = append(o.PathParams, toString(p["name"]))
				}
			}
			s.ops[o.key()] = o
		}
	}
	return s
}

func toString(v any) string {
	s, _ := v.(string)
	return s
}

// resolve follows a local $ref ("#/components/parameters/User").
func (s spec) resolve(t *testing.T, v any) map[string]any {
	t.Helper()
	m, _ := v.(map[string]any)
	ref, ok := m["$ref"].(string)
	if !ok {
		return m
	}
	target, ok := s.lookup(ref)
	if !ok {
		t.Errorf("%s: $ref %s resolves to nothing", specPath, ref)
		return nil
	}
	tm, _ := target.(map[string]any)
	return tm
}

func (s spec) lookup(ref string) (any, bool) {
	rest, ok := strings.CutPrefix(ref, "#/")
	if !ok {
		return nil, false
	}
	var cur any = s.raw
	for _, part := range strings.Split(rest, "/") {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		if cur, ok = m[part]; !ok {
			return nil, false
		}
	}
	return cur, true
}

var patternRE = regexp.MustCompile(`^(GET|HEAD|POST|PUT|PATCH|DELETE|OPTIONS|CONNECT|TRACE) (/\S*)$`)

// servedRoutes reads the route patterns ("METHOD /path") that the
// coordinator's source registers, with where each is.
func servedRoutes(t *testing.T) map[string]string {
	t.Helper()
	var files []string
	for _, glob := range routeSources {
		m, err := filepath.Glob(glob)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range m {
			if !strings.HasSuffix(f, "_test.go") {
				files = append(files, f)
			}
		}
	}
	if len(files) < 2 {
		t.Fatalf("found only %v to scan for routes", files)
	}
	fset := token.NewFileSet()
	routes := map[string]string{}
	for _, name := range files {
		f, err := parser.ParseFile(fset, name, nil, parser.SkipObjectResolution)
		if err != nil {
			t.Fatalf("parsing %s: %v", name, err)
		}
		ast.Inspect(f, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.BasicLit:
				if n.Kind != token.STRING {
					return true
				}
				s, err := strconv.Unquote(n.Value)
				if err == nil && patternRE.MatchString(s) {
					routes[s] = fset.Position(n.Pos()).String()
				}
			case *ast.CallExpr:
				// A pattern built at run time would escape this scan.
				sel, ok := n.Fun.(*ast.SelectorExpr)
				if !ok {
					return true
				}
				idx := map[string]int{"Handle": 0, "HandleFunc": 0, "route": 1}
				i, ok := idx[sel.Sel.Name]
				if !ok || len(n.Args) <= i {
					return true
				}
				switch n.Args[i].(type) {
				case *ast.BasicLit, *ast.Ident:
				default:
					t.Errorf("%s: route pattern is not a string literal; write it as one so the API docs test can see it",
						fset.Position(n.Args[i].Pos()))
				}
			}
			return true
		})
	}
	if len(routes) == 0 {
		t.Fatal("found no route patterns in the source")
	}
	return routes
}

func TestOpenAPIMatchesServedRoutes(t *testing.T) {
	s := loadSpec(t)
	served := servedRoutes(t)
	var undocumented, unserved []string
	for r, where := range served {
		if _, ok := s.ops[r]; !ok {
			undocumented = append(undocumented, r+" ("+where+")")
		}
	}
	for k := range s.ops {
		if _, ok := served[k]; !ok {
			unserved = append(unserved, k)
		}
	}
	sort.Strings(undocumented)
	sort.Strings(unserved)
	for _, r := range undocumented {
		t.Errorf("served but not in docs/openapi.yaml (and docs/api.md): %s", r)
	}
	for _, r := range unserved {
		t.Errorf("in docs/openapi.yaml but not registered by the coordinator: %s", r)
	}
}

func TestOpenAPIOperationsInAPIDoc(t *testing.T) {
	s := loadSpec(t)
	b, err := os.ReadFile(apiDocPath)
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	for _, k := range sortedKeys(s.ops) {
		o := s.ops[k]
		// Whole paths only: /api/v1/users must not count as mentioned
		// because /api/v1/users/{user} is.
		path := regexp.MustCompile(regexp.QuoteMeta(o.Path) + `($|[^\w/{}.-])`)
		method := regexp.MustCompile(regexp.QuoteMeta(k) + `($|[^\w/{}.-])`)
		if !path.MatchString(doc) {
			t.Errorf("docs/api.md does not mention the path %s", o.Path)
		} else if !method.MatchString(doc) {
			t.Errorf("docs/api.md does not mention %q", k)
		}
		if o.HasRoles {
			want := "Roles: " + strings.Join(o.Roles, ", ")
			if !strings.Contains(o.Description, want) {
				t.Errorf("%s: description should say %q, as x-roles does; it says %q", k, want, o.Description)
			}
		}
	}
}

func TestOpenAPIIsSelfConsistent(t *testing.T) {
	s := loadSpec(t)
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			for k, x := range v {
				if k == "$ref" {
					if _, ok := s.lookup(toString(x)); !ok {
						t.Errorf("$ref %v resolves to nothing", x)
					}
				}
				walk(x)
			}
		case []any:
			for _, x := range v {
				walk(x)
			}
		}
	}
	walk(s.raw)
	paramRE := regexp.MustCompile(`\{([^}]+)\}`)
	for _, k := range sortedKeys(s.ops) {
		o := s.ops[k]
		var inPath []string
		for _, m := range paramRE.FindAllStringSubmatch(o.Path, -1) {
			inPath = append(inPath, m[1])
		}
		declared := slices.Clone(o.PathParams)
		slices.Sort(inPath)
		slices.Sort(declared)
		if !slices.Equal(inPath, declared) {
			t.Errorf("%s: path parameters %v, declared %v", k, inPath, declared)
		}
		for _, r := range o.Roles {
			if !slices.Contains(allRoles, r) {
				t.Errorf("%s: unknown role %q in x-roles", k, r)
			}
		}
		if !o.HasRoles && !o.HasSecurity {
			t.Errorf("%s: give x-roles, or its own security (`security: []` when it needs no API token)", k)
		}
	}
}

// TestOpenAPIRolesAgainstCoordinator asks the real coordinator's handler
// for every operation, without a token and with a token of each role. The
// requests carry no body and name nothing that exists, so they change
// nothing.
func TestOpenAPIRolesAgainstCoordinator(t *testing.T) {
	s := loadSpec(t)
	const adminToken = "vgl_api_openapi-test-admin-token-32-chars"
	srv := coordtest.Open(t, coordtest.Config(t.TempDir(), adminToken))
	h := srv.Handler()

	tokens := map[string]string{"admin": adminToken}
	for _, role := range []string{"supervisor", "integration"} {
		rec := request(h, "POST", "/api/v1/tokens", adminToken, `{"name":"openapi-test-`+role+`","role":"`+role+`"}`)
		var created struct{ Token string }
		if rec.Code != http.StatusCreated || json.Unmarshal(rec.Body.Bytes(), &created) != nil || created.Token == "" {
			t.Fatalf("creating a %s token: %d %s", role, rec.Code, rec.Body)
		}
		tokens[role] = created.Token
	}

	paramRE := regexp.MustCompile(`\{[^}]+\}`)
	for _, k := range sortedKeys(s.ops) {
		o := s.ops[k]
		path := paramRE.ReplaceAllString(o.Path, "openapi-test-none")
		rec := request(h, o.Method, path, "", "")
		if !served(rec) {
			t.Errorf("%s: the coordinator does not serve it (%d %s)", k, rec.Code, strings.TrimSpace(rec.Body.String()))
			continue
		}
		open := o.HasSecurity && len(o.Security) == 0
		switch {
		case open && (rec.Code == http.StatusUnauthorized || rec.Code == http.StatusForbidden):
			t.Errorf("%s: the spec says it needs no token, but without one it answers %d %s", k, rec.Code, rec.Body)
		case !open && rec.Code != http.StatusUnauthorized:
			t.Errorf("%s: without a token it answers %d, want 401", k, rec.Code)
		}
		if !o.HasRoles {
			continue
		}
		for _, role := range allRoles {
			rec := request(h, o.Method, path, tokens[role], "")
			allowed := slices.Contains(o.Roles, role)
			switch {
			case !served(rec):
				t.Errorf("%s as %s: not served (%d)", k, role, rec.Code)
			case allowed && (rec.Code == http.StatusUnauthorized || rec.Code == http.StatusForbidden):
				t.Errorf("%s: x-roles lists %s, but the coordinator answers it %d %s", k, role, rec.Code, rec.Body)
			case !allowed && rec.Code != http.StatusForbidden:
				t.Errorf("%s: x-roles does not list %s, but the coordinator answers it %d, not 403", k, role, rec.Code)
			}
		}
	}
}

func request(h http.Handler, method, path, token, body string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

// served tells a route's own answer from the router's: an unknown path is
// a 404 "no such endpoint" and a wrong method a 405.
func served(rec *httptest.ResponseRecorder) bool {
	if rec.Code == http.StatusMethodNotAllowed {
		return false
	}
	return rec.Code != http.StatusNotFound || !strings.Contains(rec.Body.String(), "no such endpoint")
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
