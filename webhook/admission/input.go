package admission

// Input is the document the Rego policies decide on. Go computes what Rego cannot (which windows
// are active, the classified diff, live flag states, the applied schema); Rego decides.
type Input struct {
	Operation   string    `json:"operation"`
	Kind        string    `json:"kind"`
	Namespace   string    `json:"namespace"`
	Name        string    `json:"name"`
	User        User      `json:"user"`
	Environment string    `json:"environment"`
	Labels      StringMap `json:"labels"`
	Annotations StringMap `json:"annotations"`
	// IsDeploy is true for a CREATE and for an UPDATE that changes what runs (not only replicas,
	// metadata or status): freeze windows, flags and the schema gate apply to deploys.
	IsDeploy   bool            `json:"isDeploy"`
	Freeze     FreezeInput     `json:"freeze"`
	BreakGlass BreakGlassInput `json:"breakGlass"`
	Flags      FlagsInput      `json:"flags"`
	Risky      RiskyInput      `json:"risky"`
	Schema     *SchemaInput    `json:"schema,omitempty"`
	Images     ImagesInput     `json:"images"`
	// Errors deny: a malformed annotation, an unreadable flag or schema source. Fail closed.
	Errors []string `json:"errors"`
}

// StringMap is never null in the input document.
type StringMap map[string]string

// User is who sent the request (AdmissionReview userInfo).
type User struct {
	Username string   `json:"username"`
	Groups   []string `json:"groups"`
	// Extra is the user's extra information. ExtraDaemon in it says bollard's daemon sent the
	// request as a Release's ServiceAccount (impersonation).
	Extra map[string][]string `json:"extra,omitempty"`
}

// FreezeInput lists the windows that hold the object.
type FreezeInput struct {
	Active       []ActiveWindow `json:"active"`
	OutsideAllow []AllowWindow  `json:"outsideAllow"`
}

// ActiveWindow is a deny window active now.
type ActiveWindow struct {
	Policy      string `json:"policy"`
	Window      string `json:"window"`
	Description string `json:"description"`
	Start       string `json:"start"`
	End         string `json:"end"`
	EndsIn      string `json:"endsIn"`
}

// AllowWindow is the next occurrence of a policy's allow windows when none is active.
type AllowWindow struct {
	Policy      string `json:"policy"`
	Window      string `json:"window"`
	Description string `json:"description"`
	Start       string `json:"start"`
	StartsIn    string `json:"startsIn"`
}

// BreakGlassInput is the bollard.dev/break-glass annotation and whether the user may use it.
type BreakGlassInput struct {
	Requested  bool   `json:"requested"`
	Reason     string `json:"reason"`
	Authorized bool   `json:"authorized"`
}

// FlagsInput is what the live flag states say about the object.
type FlagsInput struct {
	Mismatches     []FlagMismatch `json:"mismatches"`
	FreezeSwitches []FreezeSwitch `json:"freezeSwitches"`
}

// FlagMismatch is a required flag state that the live state does not meet.
type FlagMismatch struct {
	Policy string `json:"policy"`
	Source string `json:"source"`
	Flag   string `json:"flag"`
	Want   string `json:"want"`
	Have   string `json:"have"`
}

// FreezeSwitch is a policy's freeze flag that is on.
type FreezeSwitch struct {
	Policy string `json:"policy"`
	Source string `json:"source"`
	Flag   string `json:"flag"`
}

// RiskyInput is the classified UPDATE.
type RiskyInput struct {
	Changes        []RiskyChange `json:"changes"`
	Approval       string        `json:"approval"`
	ApprovalReused bool          `json:"approvalReused"`
}

// RiskyChange is one classified change with the strictest action of the policies that apply.
type RiskyChange struct {
	Class  string `json:"class"`
	Path   string `json:"path"`
	Detail string `json:"detail"`
	Action string `json:"action"`
}

// SchemaInput compares the required and the applied schema version.
type SchemaInput struct {
	Policy    string `json:"policy"`
	Source    string `json:"source"`
	Required  string `json:"required"`
	Applied   string `json:"applied"`
	Satisfied bool   `json:"satisfied"`
}

// document is the input as plain maps and slices, which OPA converts without the JSON round trip
// it applies to structs (a third of the decision's time). TestDocumentMatchesJSON keeps it equal
// to the JSON form of Input.
func (in *Input) document() map[string]any {
	doc := map[string]any{
		"operation": in.Operation, "kind": in.Kind, "namespace": in.Namespace, "name": in.Name,
		"user":        map[string]any{"username": in.User.Username, "groups": in.User.Groups},
		"environment": in.Environment, "labels": map[string]string(in.Labels), "annotations": map[string]string(in.Annotations),
		"isDeploy":   in.IsDeploy,
		"freeze":     map[string]any{"active": list(in.Freeze.Active, ActiveWindow.doc), "outsideAllow": list(in.Freeze.OutsideAllow, AllowWindow.doc)},
		"breakGlass": map[string]any{"requested": in.BreakGlass.Requested, "reason": in.BreakGlass.Reason, "authorized": in.BreakGlass.Authorized},
		"flags":      map[string]any{"mismatches": list(in.Flags.Mismatches, FlagMismatch.doc), "freezeSwitches": list(in.Flags.FreezeSwitches, FreezeSwitch.doc)},
		"risky":      map[string]any{"changes": list(in.Risky.Changes, RiskyChange.doc), "approval": in.Risky.Approval, "approvalReused": in.Risky.ApprovalReused},
		"errors":     in.Errors,
		"images": map[string]any{"checked": in.Images.Checked, "noMatchPolicy": in.Images.NoMatchPolicy,
			"checks": list(in.Images.Checks, ImageCheck.doc), "unmatched": list(in.Images.Unmatched, ImageRef.doc)},
	}
	if in.Schema != nil {
		s := in.Schema
		doc["schema"] = map[string]any{"policy": s.Policy, "source": s.Source, "required": s.Required, "applied": s.Applied, "satisfied": s.Satisfied}
	}
	return doc
}

func list[T any](items []T, doc func(T) map[string]any) []any {
	out := make([]any, len(items))
	for i, it := range items {
		out[i] = doc(it)
	}
	return out
}

func (w ActiveWindow) doc() map[string]any {
	return map[string]any{"policy": w.Policy, "window": w.Window, "description": w.Description, "start": w.Start, "end": w.End, "endsIn": w.EndsIn}
}

func (w AllowWindow) doc() map[string]any {
	return map[string]any{"policy": w.Policy, "window": w.Window, "description": w.Description, "start": w.Start, "startsIn": w.StartsIn}
}

func (m FlagMismatch) doc() map[string]any {
	return map[string]any{"policy": m.Policy, "source": m.Source, "flag": m.Flag, "want": m.Want, "have": m.Have}
}

func (s FreezeSwitch) doc() map[string]any {
	return map[string]any{"policy": s.Policy, "source": s.Source, "flag": s.Flag}
}

func (c RiskyChange) doc() map[string]any {
	return map[string]any{"class": c.Class, "path": c.Path, "detail": c.Detail, "action": c.Action}
}

func (c ImageCheck) doc() map[string]any {
	return map[string]any{"path": c.Path, "image": c.Image, "digest": c.Digest, "policy": c.Policy, "mode": c.Mode,
		"verified": c.Verified, "authority": c.Authority, "reason": c.Reason}
}

func (r ImageRef) doc() map[string]any { return map[string]any{"path": r.Path, "image": r.Image} }
