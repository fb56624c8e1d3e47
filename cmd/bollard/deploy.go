package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"bollard.dev/bollard/api/v1alpha1"
	"bollard.dev/bollard/reconciler"
	"bollard.dev/bollard/reconciler/source"
)

// deployOutcome makes bollard deploy exit 1 (rolled back, failed) or 2 (refused by pre-flight).
type deployOutcome struct {
	code int
	msg  string
}

func (e deployOutcome) Error() string { return e.msg }

func newDeployCommand() *cobra.Command {
	var kube kubeOptions
	var namespace, target, revision, artifact string
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:     "deploy RELEASE [-n NAMESPACE | --target ENVIRONMENT] [--revision REV] [--artifact IMAGE@DIGEST]",
		Aliases: []string{"ship-it", "rollout"},
		Short:   "Deploy a Release now and follow it: pre-flight, apply, health, SLO guard, the Deployment Log",
		Long: `Ask the daemon to deploy RELEASE now — the head of its git ref, or --revision (a branch, tag or
commit) — and follow it as it happens: a line per step with its state, the elapsed time and the
values seen, then the Deployment Log.

--revision is a one-off: the spec is not changed; the Release's bollard.dev/revision annotation
holds it, the Deployment Log records it, and pushes to spec.source.ref are not deployed until a
deploy without --revision (which returns to the ref's head). --artifact pins the image of its
repository the same way (annotation bollard.dev/artifact) until a deploy without it. Both go
through pre-flight like any revision.

--target picks the Release by environment: the one named RELEASE in the namespace labelled
bollard.dev/environment=ENVIRONMENT.

Exit codes: 0 deployed and verified (or nothing new to deploy), 1 rolled back or failed,
2 refused by pre-flight (or a usage error).`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 {
				return usageError{errors.New("give exactly one RELEASE")}
			}
			if namespace != "" && target != "" {
				return usageError{errors.New("give -n or --target, not both")}
			}
			c, err := kube.Client()
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			key, err := findRelease(ctx, c, args[0], namespace, target)
			if err != nil {
				return err
			}
			return deploy(ctx, c, cmd.OutOrStdout(), key, deployRequest{revision: revision, artifact: artifact}, timeout)
		},
	}
	cmd.Flags().StringVarP(&namespace, "namespace", "n", "", "the Release's namespace (default: default)")
	cmd.Flags().StringVar(&target, "target", "", "the environment (staging, production, …) whose namespace holds the Release")
	cmd.Flags().StringVar(&revision, "revision", "", "deploy this branch, tag or commit once, instead of the head of spec.source.ref (the spec is not changed)")
	cmd.Flags().StringVar(&artifact, "artifact", "", "deploy this image (repository@sha256:…) for the containers of its repository, pinned until a deploy without it")
	cmd.Flags().DurationVar(&timeout, "timeout", 15*time.Minute, "how long to follow the rollout")
	kube.BindFlags(cmd.Flags())
	return cmd
}

// findRelease locates RELEASE by namespace, or by the environment label of its namespace.
func findRelease(ctx context.Context, c client.Client, name, namespace, environment string) (client.ObjectKey, error) {
	if environment == "" {
		if namespace == "" {
			namespace = "default"
		}
		return client.ObjectKey{Namespace: namespace, Name: name}, nil
	}
	var nss corev1.NamespaceList
	if err := c.List(ctx, &nss, client.MatchingLabels{v1alpha1.LabelEnvironment: environment}); err != nil {
		return client.ObjectKey{}, err
	}
	var found []client.ObjectKey
	for _, ns := range nss.Items {
		var rel v1alpha1.Release
		if err := c.Get(ctx, client.ObjectKey{Namespace: ns.Name, Name: name}, &rel); err == nil {
			found = append(found, client.ObjectKeyFromObject(&rel))
		}
	}
	switch len(found) {
	case 0:
		return client.ObjectKey{}, usageError{fmt.Errorf("no Release %s in a namespace labelled %s=%s", name, v1alpha1.LabelEnvironment, environment)}
	case 1:
		return found[0], nil
	}
	return client.ObjectKey{}, usageError{fmt.Errorf("Release %s is in %d namespaces labelled %s=%s: give -n", name, len(found), v1alpha1.LabelEnvironment, environment)}
}

// deployRequest is what a deploy asks of the daemon beyond "now": a one-off revision, an artifact
// pin, and the record a promotion rests on. Each empty one is cleared.
type deployRequest struct {
	revision, artifact, promotedFrom string
}

// annotations is the merge patch of the Release's annotations that asks for req now.
func (req deployRequest) annotations(request string) client.Patch {
	return reconciler.AnnotationsPatch(map[string]string{v1alpha1.AnnotationDeployRequest: request,
		v1alpha1.AnnotationArtifact: req.artifact, v1alpha1.AnnotationPromotedFrom: req.promotedFrom, v1alpha1.AnnotationRevision: req.revision})
}

func deploy(ctx context.Context, c client.Client, out io.Writer, key client.ObjectKey, req deployRequest, timeout time.Duration) error {
	var rel v1alpha1.Release
	if err := c.Get(ctx, key, &rel); err != nil {
		return err
	}
	before := reconciler.LatestID(&rel)
	request := time.Now().UTC().Format(time.RFC3339Nano)
	if req.revision != "" {
		fmt.Fprintf(out, "revision: %s (once; spec.source.ref %s is not changed)\n", req.revision, orDefault(rel.Spec.Source.Ref, "main"))
	}
	if req.artifact != "" && req.promotedFrom == "" {
		fmt.Fprintf(out, "artifact: %s\n", req.artifact)
	}
	if err := c.Patch(ctx, &rel, req.annotations(request)); err != nil {
		return err
	}
	start := time.Now()
	fmt.Fprintf(out, "deploying Release %s (git %s, ref %s)\n", key, source.Redact(rel.Spec.Source.URL), orDefault(req.revision, orDefault(rel.Spec.Source.Ref, "main")))
	last := ""
	deadline := start.Add(timeout)
	for {
		if err := c.Get(ctx, key, &rel); err != nil {
			return err
		}
		line := progress(&rel)
		if line != last {
			fmt.Fprintf(out, "[%5.1fs] %s\n", time.Since(start).Seconds(), line)
			last = line
		}
		newLog := reconciler.LatestID(&rel) > before
		if rel.Status.LastDeployRequest == request && !newLog {
			switch rel.Status.Phase {
			case "Refused":
				return deployOutcome{2, "refused: " + rel.Status.Message}
			case "Failed": // no change was made: git, the render or the API failed first
				return deployOutcome{1, "failed: " + rel.Status.Message}
			}
			fmt.Fprintf(out, "nothing new to deploy: revision %s is live (%s)\n", short(rel.Status.ObservedRevision), rel.Status.Phase)
			return nil
		}
		if newLog {
			l, _, err := reconciler.LatestLog(ctx, c, &rel)
			if err != nil {
				return err
			}
			if l.Status != "VERIFYING" {
				fmt.Fprintln(out)
				reconciler.WriteLog(out, &rel, l)
				switch l.Status {
				case "SUCCESS":
					return nil
				case "REFUSED":
					return deployOutcome{2, "refused: " + rel.Status.Message}
				}
				return deployOutcome{1, string(l.Status) + ": " + rel.Status.Message}
			}
		}
		if time.Now().After(deadline) {
			return deployOutcome{1, fmt.Sprintf("still %s after %s: %s", rel.Status.Phase, timeout, rel.Status.Message)}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// progress is the one-line state of a Release: phase, rollout step, what it sees.
func progress(rel *v1alpha1.Release) string {
	s := rel.Status
	if ro := s.Rollout; ro != nil && (ro.Phase == "Verifying" || ro.Phase == "Paused" || ro.Phase == "Failing" || ro.Phase == "RollbackFailed") {
		where := orDefault(string(ro.Check), "-")
		if ro.Index > 0 {
			where = fmt.Sprintf("phase %d: %s", ro.Index+1, where)
		}
		return fmt.Sprintf("%s %s (%s): %s", short(ro.Revision), ro.Phase, where, ro.Message)
	}
	return fmt.Sprintf("%s %s: %s", short(s.ObservedRevision), orDefault(s.Phase, "Pending"), s.Message)
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func short(h string) string {
	if len(h) > 7 {
		return h[:7]
	}
	return h
}
