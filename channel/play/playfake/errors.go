package playfake

import (
	"encoding/json"
	"fmt"
	"net/http"
)

// apiError is an error the fake answers in Google's JSON error shape — the shape
// googleapi.CheckResponse parses into a *googleapi.Error:
//
//	{"error":{"code":404,"message":"…","status":"NOT_FOUND",
//	          "errors":[{"message":"…","domain":"global","reason":"notFound"}]}}
//
// (https://cloud.google.com/apis/design/errors#http_mapping for code ↔ status).
type apiError struct {
	code    int
	reason  string
	message string
	header  http.Header
}

func (e *apiError) Error() string { return fmt.Sprintf("%d %s: %s", e.code, e.reason, e.message) }

func errorf(code int, reason, format string, args ...any) *apiError {
	return &apiError{code: code, reason: reason, message: fmt.Sprintf(format, args...)}
}

func badRequest(format string, args ...any) *apiError {
	return errorf(http.StatusBadRequest, "badRequest", format, args...)
}

func notFound(format string, args ...any) *apiError {
	return errorf(http.StatusNotFound, "notFound", format, args...)
}

// canonical is the google.rpc.Code name Google's JSON errors carry for an HTTP status.
func canonical(code int) string {
	switch code {
	case http.StatusBadRequest:
		return "INVALID_ARGUMENT"
	case http.StatusUnauthorized:
		return "UNAUTHENTICATED"
	case http.StatusForbidden:
		return "PERMISSION_DENIED"
	case http.StatusNotFound:
		return "NOT_FOUND"
	case http.StatusConflict:
		return "ABORTED"
	case http.StatusRequestEntityTooLarge:
		return "OUT_OF_RANGE"
	case http.StatusNotImplemented:
		return "UNIMPLEMENTED"
	default:
		return "INTERNAL"
	}
}

func writeError(w http.ResponseWriter, e *apiError) {
	for k, vs := range e.header {
		for _, v := range vs {
			w.Header().Add(k, v)
		}
	}
	type item struct {
		Message string `json:"message"`
		Domain  string `json:"domain"`
		Reason  string `json:"reason"`
	}
	type body struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
		Status  string `json:"status"`
		Errors  []item `json:"errors"`
	}
	writeJSON(w, e.code, map[string]body{"error": {
		Code:    e.code,
		Message: e.message,
		Status:  canonical(e.code),
		Errors:  []item{{Message: e.message, Domain: "global", Reason: e.reason}},
	}})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		code, b = http.StatusInternalServerError, []byte(`{"error":{"code":500,"message":"encoding the response failed","status":"INTERNAL"}}`)
	}
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	w.WriteHeader(code)
	_, _ = w.Write(b)
}
