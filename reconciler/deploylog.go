package reconciler

import (
	"cmp"
	"fmt"
	"io"
	"strings"

	"bollard.dev/bollard/api/v1alpha1"
)

// WriteLog writes one Deployment Log in the seed's format: target, artifact and revision, the
// gates, each step with the values seen, and the final status.
func WriteLog(w io.Writer, rel *v1alpha1.Release, rec v1alpha1.DeploymentLog) {
	revision := "commit " + short(rec.Revision)
	if rec.Message != "" {
		revision += fmt.Sprintf(" %q", rec.Message)
	}
	if rec.Author != "" {
		revision += " by " + rec.Author
	}
	strategy := "apply (gitops-engine sync)" // a log written before the strategy was kept: today's spec
	if rel.Spec.Strategy != nil && rel.Spec.Strategy.Type != "" {
		strategy = string(rel.Spec.Strategy.Type) + " (from today's spec)"
	}
	writeLog(w, "Release "+rel.Namespace+"/"+rel.Name, "namespace "+rel.Target(), revision, strategy, rec)
}

// WriteChannelLog writes one Deployment Log of a ChannelRelease, in the same format.
func WriteChannelLog(w io.Writer, cr *v1alpha1.ChannelRelease, rec v1alpha1.DeploymentLog) {
	writeLog(w, "ChannelRelease "+cr.Namespace+"/"+cr.Name, describeChannel(cr), "version "+rec.Revision, describeSteps(cr), rec)
}

func writeLog(w io.Writer, subject, target, revision, strategy string, rec v1alpha1.DeploymentLog) {
	fmt.Fprintf(w, "## Deployment Log #%d — %s (%s, trigger %s)\n", rec.ID, subject,
		rec.Started.UTC().Format("2006-01-02 15:04:05 MST"), rec.Trigger)
	fmt.Fprintf(w, "> **Target**: %s\n", cmp.Or(rec.Target, target))
	fmt.Fprintf(w, "> **Revision**: %s\n", revision)
	if rec.PromotedFrom != nil {
		fmt.Fprintf(w, "> **Promoted from**: %s\n", describeRecord(rec.PromotedFrom))
	}
	if len(rec.Evidence) > 0 {
		writeEvidence(w, rec.Evidence)
	} else if len(rec.Artifacts) > 0 { // a log written before evidence was kept
		fmt.Fprintf(w, "> **Artifacts**: %s\n", strings.Join(rec.Artifacts, ", "))
	}
	fmt.Fprintf(w, "> **Strategy**: %s\n", cmp.Or(rec.Strategy, strategy))
	for _, s := range rec.Gates {
		fmt.Fprintf(w, "> - %s %s: %s%s\n", icon(s), s.Name, s.Result, detail(s))
	}
	for _, s := range rec.Steps {
		fmt.Fprintf(w, "> - %s %s: %s%s%s\n", icon(s), s.Name, s.Result, took(s), detail(s))
	}
	if rec.Created+rec.Updated+rec.Pruned > 0 {
		fmt.Fprintf(w, "> - objects: %d created, %d updated, %d pruned\n", rec.Created, rec.Updated, rec.Pruned)
	}
	fmt.Fprintf(w, "> - **STATUS**: %s %s.\n", statusIcon(rec.Status), rec.Status)
}

// writeEvidence writes each artifact with what the gate established: "🔐 Signature verified
// (cosign)" with the digest only when an authority verified it, "not verified (why)" otherwise,
// and each attestation with its predicate type, statement digest and signer.
func writeEvidence(w io.Writer, evidence []v1alpha1.ArtifactEvidence) {
	for _, e := range evidence {
		ref := e.Image
		if e.Digest != "" && !strings.Contains(e.Image, "@") {
			ref += "@" + e.Digest
		}
		fmt.Fprintf(w, "> **Artifact**: %s\n", ref)
		switch {
		case e.Verified:
			fmt.Fprintf(w, ">   - 🔐 Signature verified (cosign). Digest: %s — ClusterImagePolicy %s, %s", e.Digest, e.Policy, e.Authority)
			if e.Format != "" {
				fmt.Fprintf(w, " (%s)", e.Format)
			}
			fmt.Fprintln(w)
		case e.Digest != "":
			fmt.Fprintf(w, ">   - ⚠️ Signature not verified (%s). Digest: %s\n", e.Reason, e.Digest)
		default:
			fmt.Fprintf(w, ">   - ⚠️ Signature not verified (%s)\n", e.Reason)
		}
		for _, a := range e.Attestations {
			fmt.Fprintf(w, ">   - 📜 Attestation %s (%s) verified: statement %s, signed by %s\n", a.Name, a.PredicateType, a.Digest, a.Signer)
		}
	}
}

func icon(s v1alpha1.LogStep) string {
	switch {
	case s.Result == "FAIL":
		return "❌"
	case s.Result == "WARN":
		return "⚠️"
	case s.Name == "render":
		return "📄"
	case s.Name == "pre-flight":
		return "🔐"
	case s.Name == "self-heal":
		return "🩹"
	case s.Name == "apply":
		return "🚀"
	case s.Name == "health":
		return "💓"
	case s.Name == "prove":
		return "🧪"
	case strings.HasPrefix(s.Name, "SLO guard"):
		return "🧐"
	case s.Name == "rollback", s.Name == "restore":
		return "⏪"
	case s.Name == "drain":
		return "🧹"
	case s.Name == "promotion":
		return "🔗"
	case s.Name == "revision":
		return "📌"
	case s.Name == "halt":
		return "⏸️"
	case strings.HasPrefix(s.Name, "canary"):
		return "🐤"
	case s.Name == "promote":
		return "🛑"
	}
	return "•"
}

func detail(s v1alpha1.LogStep) string {
	if s.Detail == "" {
		return ""
	}
	return " — " + s.Detail
}

func took(s v1alpha1.LogStep) string {
	if s.DurationMillis == 0 {
		return ""
	}
	return fmt.Sprintf(" (%.1f s)", float64(s.DurationMillis)/1000)
}

func statusIcon(status v1alpha1.LogStatus) string {
	switch status {
	case "SUCCESS":
		return "🟢"
	case "REFUSED", "HALTED":
		return "🟠"
	case "VERIFYING":
		return "🟡"
	}
	return "🔴"
}
