package reconciler

import "testing"

func TestResourceOf(t *testing.T) {
	for path, want := range map[string]string{
		"/api/v1/namespaces/shop/configmaps/web":                         "configmaps",
		"/api/v1/namespaces/shop/configmaps":                             "configmaps",
		"/api/v1/namespaces/shop":                                        "namespaces",
		"/api/v1/namespaces":                                             "namespaces",
		"/apis/apps/v1/namespaces/shop/deployments/web":                  "deployments",
		"/apis/bollard.dev/v1alpha1/namespaces/shop/releases/web/status": "releases/status",
		"/apis/authorization.k8s.io/v1/selfsubjectaccessreviews":         "selfsubjectaccessreviews",
		"/api/v1/nodes/n1/proxy":                                         "nodes/proxy",
		"/apis":                                                          "discovery",
		"/version":                                                       "version", "/openapi/v3/apis/apps/v1": "openapi",
		"/apis/apps/v1": "discovery",
	} {
		if got := resourceOf(path); got != want {
			t.Errorf("resourceOf(%q) = %q, want %q", path, got, want)
		}
	}
}
