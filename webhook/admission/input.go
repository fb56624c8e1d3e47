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
	// Errors deny: a malformed annotation, an unreadable flag or schema source. Fail closed.
	Errors []string `json:"errors"`
}

// StringMap is never null in the input document.
type StringMap map[string]string

// User is who sent the request (AdmissionReview userInfo).
type User struct {
	Username string   `json:"username"`
	Groups   []string `json:"groups"`
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
