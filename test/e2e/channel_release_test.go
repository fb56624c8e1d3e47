package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"bollard.dev/bollard/api/v1alpha1"
	"bollard.dev/bollard/channel/codesign/codesigntest"
	"bollard.dev/bollard/channel/feed"
	"bollard.dev/bollard/channel/play/playfake"
	"bollard.dev/bollard/reconciler"
	"bollard.dev/bollard/test/kubetest"
	"bollard.dev/bollard/webhook"
	"bollard.dev/bollard/webhook/imagesig"
	"bollard.dev/bollard/webhook/imagesig/imagesigtest"
)

// pushArtifact writes an OCI artifact under repoTag whose one layer is file (its title
// annotation naming it) and returns its digest reference.
func pushArtifact(t *testing.T, host, repoTag, file string, data []byte) name.Digest {
	t.Helper()
	img, err := mutate.Append(mutate.MediaType(empty.Image, types.OCIManifestSchema1), mutate.Addendum{
		Layer:       static.NewLayer(data, "application/octet-stream"),
		Annotations: map[string]string{"org.opencontainers.image.title": file}})
	if err != nil {
		t.Fatal(err)
	}
	return writeImage(t, host+"/"+repoTag, img)
}

// channelFixture is a namespace with a signing policy over an in-process registry, a feed with
// 1.0.0 offered to everyone on channel stable (linux-amd64), and Prometheus scraping the crash
// counters of the versions.
type channelFixture struct {
	env    *kubetest.Env
	ns     string
	reg    *imagesigtest.Registry
	signer imagesigtest.Signer
	root   string
	repo   *feed.Repo
	prom   *promServer
	exp    *exporter
}

func newChannelFixture(t *testing.T) *channelFixture {
	t.Helper()
	env := kubetest.Get(t)
	f := &channelFixture{env: env, ns: env.Namespace(t), root: t.TempDir()}
	f.reg, f.signer = signingPolicy(t, env, f.ns)
	// Every version the tests ship has series from the start: a version Prometheus has not
	// scraped yet has no data, which the guard counts as a failure (onNoData: fail).
	f.exp, f.prom = startMetrics(t, "1.0.0", "1.1.0", "1.2.0", "1.4.0", "1.5.0", "1.6.0")
	var err error
	if f.repo, err = feed.Init(filepath.Join(f.root, f.ns, "shop")); err != nil { // the namespace's own feeds
		t.Fatal(err)
	}
	first := filepath.Join(t.TempDir(), "shop")
	if err := os.WriteFile(first, []byte("shop 1.0.0"+strings.Repeat(".", 4096)), 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := f.repo.Publish("stable", "linux-amd64", "1.0.0", 100, first); err != nil {
		t.Fatal(err)
	}
	return f
}

// artifact pushes version's installer as shop/app:version, signed unless told otherwise.
func (f *channelFixture) artifact(t *testing.T, version string, signed bool) name.Digest {
	t.Helper()
	d := pushArtifact(t, f.reg.Host, "shop/app:"+version, "shop", []byte("shop "+version+strings.Repeat(".", 4096)))
	if signed {
		f.signer.Sign(t, d)
	}
	return d
}

// spec is a feed ChannelRelease of version stepped 10 → 50 → 100 under the crash-rate guard.
func (f *channelFixture) spec(ref name.Digest, version string, hold time.Duration) v1alpha1.ChannelReleaseSpec {
	crashes := `100 * (sum(rate(http_requests_total{version="{{version}}",code=~"5.."}[5s])) or vector(0)) / sum(rate(http_requests_total{version="{{version}}"}[5s]))`
	return v1alpha1.ChannelReleaseSpec{
		Artifact: v1alpha1.ChannelArtifact{Ref: ref.String(), Version: version},
		Target:   v1alpha1.ChannelTarget{Type: v1alpha1.ChannelFeed, Feed: &v1alpha1.FeedTarget{Repository: "shop", Channel: "stable", Platform: "linux-amd64"}},
		Steps:    []int32{10, 50, 100},
		Analysis: &v1alpha1.Analysis{Prometheus: f.prom.URL, Interval: &metav1.Duration{Duration: 500 * time.Millisecond}, Hold: &metav1.Duration{Duration: hold},
			InitialDelay: &metav1.Duration{Duration: time.Second}, Metrics: []v1alpha1.SLOMetric{{Name: "crash-rate", Query: crashes, Max: "1", Unit: "%"}}},
	}
}

func (f *channelFixture) phase(t *testing.T, name string, want v1alpha1.ChannelPhase, within time.Duration) *v1alpha1.ChannelRelease {
	t.Helper()
	var cr v1alpha1.ChannelRelease
	f.env.Eventually(t, within, "ChannelRelease "+name+" "+string(want), func(ctx context.Context) (bool, error) {
		err := f.env.Client.Get(ctx, client.ObjectKey{Namespace: f.ns, Name: name}, &cr)
		return err == nil && cr.Status.ObservedGeneration == cr.Generation && cr.Status.Phase == want, nil
	})
	return &cr
}

func logSteps(cr *v1alpha1.ChannelRelease) string {
	if len(cr.Status.History) == 0 {
		return ""
	}
	l := cr.Status.History[len(cr.Status.History)-1]
	var b strings.Builder
	for _, s := range append(append([]v1alpha1.LogStep{}, l.Gates...), l.Steps...) {
		b.WriteString(s.Name + ": " + string(s.Result) + " " + s.Detail + "\n")
	}
	return b.String() + "STATUS " + string(l.Status)
}

// TestChannelReleaseFeed: a ChannelRelease ships a signed OCI artifact to bollard's update feed
// through the daemon (as the chart's ServiceAccount, the release acting as its namespace's):
// pre-flight verifies the artifact's signature with the same ClusterImagePolicy as images, each
// step moves the feed's signed pointer and is held under the SLO guard on the real Prometheus;
// a version crashing at 10 % is halted and rolled back (the pointer returns to the earlier
// version); an unsigned artifact is refused with nothing published.
func TestChannelReleaseFeed(t *testing.T) {
	t.Parallel()
	f := newChannelFixture(t)
	f.exp.set("1.2.0", behaviour{Latency: 30 * time.Millisecond, ErrorRate: 0.5})
	startDaemonOpts(t, nil, f.ns, "receiver", t.TempDir(), func(o *reconciler.Options) { o.VerifyImages, o.FeedRoot = true, f.root })
	ctx := context.Background()

	good := f.artifact(t, "1.1.0", true)
	cr := &v1alpha1.ChannelRelease{ObjectMeta: metav1.ObjectMeta{Namespace: f.ns, Name: "shop-desktop"}, Spec: f.spec(good, "1.1.0", 2*time.Second)}
	if err := f.env.Client.Create(ctx, cr); err != nil {
		t.Fatal(err)
	}
	done := f.phase(t, "shop-desktop", v1alpha1.ChannelCompleted, 90*time.Second)
	steps := logSteps(done)
	for _, want := range []string{"pre-flight: OK", good.String() + " (" + good.DigestStr() + ") verified by ClusterImagePolicy " + f.ns + "-signed",
		"submit: OK 1.1.0 (shop) at 10%", "step 10%: OK", "SLO guard (2s): crash-rate 0", "step 50%: OK", "1.1.0 offered to 50% of installations", "step 100%: OK", "STATUS SUCCESS"} {
		if !strings.Contains(steps, want) {
			t.Errorf("the Deployment Log lacks %q:\n%s", want, steps)
		}
	}
	if p, _ := f.repo.Pointer("stable", "linux-amd64"); p.Version != "1.1.0" || p.Percent != 100 || p.Halted {
		t.Errorf("after the release: the feed offers %+v", p)
	}

	// A new version on the same ChannelRelease: crashing at 10 %, halted and rolled back.
	bad := f.artifact(t, "1.2.0", true)
	if err := f.env.Client.Get(ctx, client.ObjectKeyFromObject(cr), cr); err != nil {
		t.Fatal(err)
	}
	cr.Spec = f.spec(bad, "1.2.0", 2*time.Second)
	if err := f.env.Client.Update(ctx, cr); err != nil {
		t.Fatal(err)
	}
	back := f.phase(t, "shop-desktop", v1alpha1.ChannelRolledBack, 90*time.Second)
	steps = logSteps(back)
	for _, want := range []string{"step 10% SLO guard: FAIL crash-rate ", "halt: OK feed halted: 1.2.0 is offered to nobody new",
		"rollback: OK the channel offers 1.1.0 again", "STATUS ROLLED_BACK"} {
		if !strings.Contains(steps, want) {
			t.Errorf("the breach's Deployment Log lacks %q:\n%s", want, steps)
		}
	}
	if strings.Contains(steps, "step 50%") {
		t.Errorf("the crashing version went on to 50%%:\n%s", steps)
	}
	if p, _ := f.repo.Pointer("stable", "linux-amd64"); p.Version != "1.1.0" || p.Withdrawn != "1.2.0" || p.Percent != 100 {
		t.Errorf("after the breach the feed offers %+v", p)
	}
	if len(back.Status.History) != 2 {
		t.Errorf("%d Deployment Logs, want 2 (one per change)", len(back.Status.History))
	}

	// Unsigned: refused by pre-flight, nothing published.
	unsigned := f.artifact(t, "1.3.0", false)
	bad3 := &v1alpha1.ChannelRelease{ObjectMeta: metav1.ObjectMeta{Namespace: f.ns, Name: "shop-unsigned"}, Spec: f.spec(unsigned, "1.3.0", time.Second)}
	if err := f.env.Client.Create(ctx, bad3); err != nil {
		t.Fatal(err)
	}
	refused := f.phase(t, "shop-unsigned", v1alpha1.ChannelRefused, 60*time.Second)
	if want := "in spec.artifact.ref is not allowed by ClusterImagePolicy " + f.ns + "-signed: no signatures found"; !strings.Contains(refused.Status.Message, want) {
		t.Errorf("refusal %q lacks %q", refused.Status.Message, want)
	}
	if _, err := os.Stat(filepath.Join(f.root, f.ns, "shop", "targets", "app", "linux-amd64", "1.3.0")); !os.IsNotExist(err) {
		t.Errorf("the refused version reached the feed: %v", err)
	}
	if p, _ := f.repo.Pointer("stable", "linux-amd64"); p.Version != "1.1.0" {
		t.Errorf("the refused version moved the channel: %+v", p)
	}

	// A private artifact: its files are pulled with the image pull secrets of the release's
	// ServiceAccount (read as it), never with the daemon's own credentials — without them the
	// pull is refused by the registry and retried, saying so; with them it ships.
	private := f.artifact(t, "1.6.0", true)
	img, err := remote.Image(private)
	if err != nil {
		t.Fatal(err)
	}
	layers, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	blob, err := layers[0].Digest()
	if err != nil {
		t.Fatal(err)
	}
	authorize := func(req *http.Request) bool {
		if !strings.HasSuffix(req.URL.Path, "/blobs/"+blob.String()) {
			return true // the manifest and the signature stay readable: the gate's verification is not what this checks
		}
		user, pass, ok := req.BasicAuth()
		return ok && user == "shop-ci" && pass == "s3cret"
	}
	f.reg.Authorize.Store(&authorize)
	t.Cleanup(func() { f.reg.Authorize.Store(nil) })
	priv := &v1alpha1.ChannelRelease{ObjectMeta: metav1.ObjectMeta{Namespace: f.ns, Name: "shop-private"}, Spec: f.spec(private, "1.6.0", time.Second)}
	priv.Spec.Target.Feed.Channel, priv.Spec.Steps = "private", []int32{100}
	if err := f.env.Client.Create(ctx, priv); err != nil {
		t.Fatal(err)
	}
	f.env.Eventually(t, 60*time.Second, "the pull refused without the namespace's pull secret", func(ctx context.Context) (bool, error) {
		err := f.env.Client.Get(ctx, client.ObjectKeyFromObject(priv), priv)
		return err == nil && strings.Contains(priv.Status.Message, "pulling the artifact") && strings.Contains(priv.Status.Message, "UNAUTHORIZED"), nil
	})
	dockerConfig := fmt.Sprintf(`{"auths":{%q:{"username":"shop-ci","password":"s3cret"}}}`, f.reg.Host)
	if err := f.env.Client.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: f.ns, Name: "regcred"}, Type: corev1.SecretTypeDockerConfigJson,
		Data: map[string][]byte{corev1.DockerConfigJsonKey: []byte(dockerConfig)}}); err != nil {
		t.Fatal(err)
	}
	if err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		var sa corev1.ServiceAccount
		if err := f.env.Client.Get(ctx, client.ObjectKey{Namespace: f.ns, Name: releaseAccount}, &sa); err != nil {
			return err
		}
		sa.ImagePullSecrets = append(sa.ImagePullSecrets, corev1.LocalObjectReference{Name: "regcred"})
		return f.env.Client.Update(ctx, &sa)
	}); err != nil {
		t.Fatal(err)
	}
	if r := f.phase(t, "shop-private", v1alpha1.ChannelCompleted, 90*time.Second); r.Status.Percent != 100 {
		t.Errorf("the private artifact: %+v", r.Status)
	}
	if p, err := f.repo.Pointer("private", "linux-amd64"); err != nil || p.Version != "1.6.0" {
		t.Errorf("the private channel offers %+v (%v)", p, err)
	}

	// bollard channel ship: a new artifact on the rolled-back release, followed to the end.
	next := f.artifact(t, "1.5.0", true)
	out, code := bollardCLI(t, f.env, "channel", "ship", "shop-desktop", "-n", f.ns, "--artifact", next.String(), "--version", "1.5.0", "--timeout", "2m")
	for _, want := range []string{"pre-flight: OK", "submit: OK 1.5.0 (shop) at 10%", "step 50%: OK", "## Deployment Log #3 — ChannelRelease " + f.ns + "/shop-desktop", "**STATUS**: 🟢 SUCCESS."} {
		if code != 0 || !strings.Contains(out, want) {
			t.Errorf("bollard channel ship: exit %d, lacks %q:\n%s", code, want, out)
		}
	}
	if out, code := bollardCLI(t, f.env, "channel", "log", "shop-desktop", "-n", f.ns, "--all"); code != 0 || strings.Count(out, "## Deployment Log #") != 3 || !strings.Contains(out, "ROLLED_BACK") {
		t.Errorf("bollard channel log --all: exit %d:\n%s", code, out)
	}
	if out, code := bollardCLI(t, f.env, "log", "shop-desktop", "-n", f.ns, "--id", "2"); code != 0 || !strings.Contains(out, "## Deployment Log #2 — ChannelRelease") || !strings.Contains(out, "**STATUS**: 🔴 ROLLED_BACK.") {
		t.Errorf("bollard log of a ChannelRelease: exit %d:\n%s", code, out)
	}
	// Every finished log is kept as a DeploymentRecord too (status keeps only the latest).
	var desktop v1alpha1.ChannelRelease
	if err := f.env.Client.Get(ctx, client.ObjectKey{Namespace: f.ns, Name: "shop-desktop"}, &desktop); err != nil {
		t.Fatal(err)
	}
	var records v1alpha1.DeploymentRecordList
	if err := f.env.Client.List(ctx, &records, client.InNamespace(f.ns), client.MatchingLabels{reconciler.LabelRecordReleaseUID: string(desktop.UID)}); err != nil {
		t.Fatal(err)
	}
	statuses := map[int64]v1alpha1.LogStatus{}
	for _, r := range records.Items {
		if r.ReleaseKind != "ChannelRelease" || r.Release != "shop-desktop" {
			t.Errorf("record %s: %s %s", r.Name, r.ReleaseKind, r.Release)
		}
		statuses[r.Log.ID] = r.Log.Status
	}
	if statuses[1] != v1alpha1.LogSuccess || statuses[2] != v1alpha1.LogRolledBack || statuses[3] != v1alpha1.LogSuccess || desktop.Status.LastRecordID != 3 {
		t.Errorf("DeploymentRecords of shop-desktop: %v, lastRecordID %d", statuses, desktop.Status.LastRecordID)
	}

	// A new spec while a rollout is live: the version it replaces is halted first (never left
	// offered without its guard), its log closed HALTED; the new one ships.
	edge := &v1alpha1.ChannelRelease{ObjectMeta: metav1.ObjectMeta{Namespace: f.ns, Name: "shop-edge"}, Spec: f.spec(good, "1.1.0", time.Minute)}
	edge.Spec.Target.Feed.Channel = "edge"
	if err := f.env.Client.Create(ctx, edge); err != nil {
		t.Fatal(err)
	}
	f.env.Eventually(t, 60*time.Second, "shop-edge held at 10%", func(ctx context.Context) (bool, error) {
		err := f.env.Client.Get(ctx, client.ObjectKeyFromObject(edge), edge)
		return err == nil && edge.Status.Phase == v1alpha1.ChannelRolling && edge.Status.Percent == 10, nil
	})
	// The controller writes status meanwhile: a conflict is read again, as kubectl edit would.
	if err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		if err := f.env.Client.Get(ctx, client.ObjectKeyFromObject(edge), edge); err != nil {
			return err
		}
		edge.Spec = f.spec(next, "1.5.0", time.Second)
		edge.Spec.Target.Feed.Channel = "edge"
		return f.env.Client.Update(ctx, edge)
	}); err != nil {
		t.Fatal(err)
	}
	shipped := f.phase(t, "shop-edge", v1alpha1.ChannelCompleted, 60*time.Second)
	if h := shipped.Status.History; len(h) != 2 || h[0].Status != v1alpha1.LogHalted || !strings.Contains(stepsOf(h[0]), "halt (superseded by 1.5.0)") {
		t.Errorf("the superseded rollout's log: %+v", h)
	}
	if p, _ := f.repo.Pointer("edge", "linux-amd64"); p.Version != "1.5.0" || p.Percent != 100 {
		t.Errorf("edge offers %+v", p)
	}

	// Inside a freeze: refused; with break-glass by an identity the policy names (the release's
	// ServiceAccount), shipped with the warning in its log.
	createPolicy(t, f.env, &v1alpha1.DeployPolicy{ObjectMeta: metav1.ObjectMeta{Name: f.ns + "-freeze"}, Spec: v1alpha1.DeployPolicySpec{
		Scope: v1alpha1.Scope{Namespaces: []string{f.ns}}, FreezeWindows: []v1alpha1.FreezeWindow{alwaysFrozen()},
		BreakGlass: &v1alpha1.BreakGlass{Users: []string{"system:serviceaccount:" + f.ns + ":" + releaseAccount}}}})
	hotfix := f.artifact(t, "1.4.0", true)
	frozen := &v1alpha1.ChannelRelease{ObjectMeta: metav1.ObjectMeta{Namespace: f.ns, Name: "shop-frozen"}, Spec: f.spec(hotfix, "1.4.0", time.Second)}
	frozen.Spec.Target.Feed.Channel = "beta"
	if err := f.env.Client.Create(ctx, frozen); err != nil {
		t.Fatal(err)
	}
	if r := f.phase(t, "shop-frozen", v1alpha1.ChannelRefused, 60*time.Second); !strings.Contains(r.Status.Message, "frozen") {
		t.Errorf("inside a freeze: %s", r.Status.Message)
	}
	if p, err := f.repo.Pointer("beta", "linux-amd64"); err == nil && p.Version != "" {
		t.Errorf("the frozen release reached the feed: %+v", p)
	}
	if err := f.env.Client.Get(ctx, client.ObjectKeyFromObject(frozen), frozen); err != nil {
		t.Fatal(err)
	}
	frozen.Annotations = map[string]string{v1alpha1.AnnotationBreakGlass: "INC-1234 crash fix"}
	frozen.Spec.Artifact.Version = "1.4.0" // a new generation: the change starts over
	frozen.Spec.Steps = []int32{100}
	if err := f.env.Client.Update(ctx, frozen); err != nil {
		t.Fatal(err)
	}
	if r := f.phase(t, "shop-frozen", v1alpha1.ChannelCompleted, 60*time.Second); !strings.Contains(logSteps(r), "pre-flight: WARN") || !strings.Contains(logSteps(r), "INC-1234") {
		t.Errorf("break-glass: the log does not warn:\n%s", logSteps(r))
	}
}

// playTrack is the release of versionCode code on the production track of dev.bollard.shop as
// the contract fake's last committed edit left it, read through the fake's own JSON (never the
// client under test).
func playTrack(t *testing.T, fake *playfake.Fake, code string) (status string, fraction float64, codes []string) {
	t.Helper()
	b, err := fake.CommittedTrack("dev.bollard.shop", "production")
	if err != nil {
		t.Fatal(err)
	}
	var track struct {
		Releases []struct {
			Status       string   `json:"status"`
			UserFraction float64  `json:"userFraction"`
			VersionCodes []string `json:"versionCodes"`
		} `json:"releases"`
	}
	if err := json.Unmarshal(b, &track); err != nil {
		t.Fatal(err)
	}
	for _, r := range track.Releases {
		if slices.Contains(r.VersionCodes, code) {
			return r.Status, r.UserFraction, r.VersionCodes
		}
	}
	return "", 0, nil
}

// TestChannelReleasePlay: a ChannelRelease ships a signed Android App Bundle (an OCI artifact)
// to Google Play's contract fake through the real androidpublisher/v3 client and OAuth 2.0
// exchange: submitted at 1 % in one edit, held in review until the test approves it, then
// 1 → 10 → 50 → 100 under the crash-rate guard on the real Prometheus, each step committed in a
// new edit. A version whose crash rate rises at 10 % is halted (committed: status halted) —
// Play cannot un-install, and the log says so — and `bollard channel resume --percent 5` goes
// on after the fix. An unsigned bundle is refused with zero calls to the fake; a bundle Play's
// review does not approve ends Rejected. Nothing here talked to Google.
func TestChannelReleasePlay(t *testing.T) {
	t.Parallel()
	f := newChannelFixture(t)
	fake, err := playfake.New(playfake.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(fake.Close)
	fake.AddApp("dev.bollard.shop")
	ctx := context.Background()
	if err := f.env.Client.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: f.ns, Name: "play-sa"},
		Data: map[string][]byte{"service-account.json": fake.ServiceAccountJSON()}}); err != nil {
		t.Fatal(err)
	}
	startDaemonOpts(t, nil, f.ns, "receiver", t.TempDir(), func(o *reconciler.Options) { o.VerifyImages = true })
	bundle := func(version string, code int64, signed bool) name.Digest {
		b, err := playfake.NewBundle(playfake.BundleSpec{Package: "dev.bollard.shop", VersionCode: code, VersionName: version})
		if err != nil {
			t.Fatal(err)
		}
		d := pushArtifact(t, f.reg.Host, "shop/android:"+version, "shop.aab", b)
		if signed {
			f.signer.Sign(t, d)
		}
		return d
	}
	spec := func(ref name.Digest, version string, code int64, hold time.Duration) v1alpha1.ChannelReleaseSpec {
		s := f.spec(ref, version, hold)
		s.Artifact.VersionCode = code
		s.Steps = []int32{1, 10, 50, 100}
		s.Target = v1alpha1.ChannelTarget{Type: v1alpha1.ChannelGooglePlay, GooglePlay: &v1alpha1.GooglePlayTarget{PackageName: "dev.bollard.shop",
			CredentialsSecretRef: v1alpha1.SecretKeyRef{Name: "play-sa"}, Endpoint: fake.URL, ReleaseNotes: map[string]string{"en-US": "Faster checkout."}}}
		return s
	}

	// The store metadata in git, in fastlane supply's layout.
	meta := newGitRepo(t)
	metaCommit := meta.commit(t, "store listing", map[string]string{
		"fastlane/metadata/android/en-US/title.txt":             "Bollard Shop\n",
		"fastlane/metadata/android/en-US/short_description.txt": "Checkout in two taps.\n",
		"fastlane/metadata/android/en-US/full_description.txt":  "The shop that ships safely.\n",
		"fastlane/metadata/android/en-US/changelogs/11.txt":     "Two-tap checkout.\n",
		"fastlane/metadata/android/de-DE/title.txt":             "Bollard Laden\n",
		"fastlane/metadata/android/de-DE/images/icon.png":       "\x89PNG",
	})

	// Staged and completed.
	cr := &v1alpha1.ChannelRelease{ObjectMeta: metav1.ObjectMeta{Namespace: f.ns, Name: "shop-android"}, Spec: spec(bundle("1.1.0", 11, true), "1.1.0", 11, time.Second)}
	cr.Spec.Target.GooglePlay.Metadata = &v1alpha1.GitSource{URL: meta.url()}
	if err := f.env.Client.Create(ctx, cr); err != nil {
		t.Fatal(err)
	}
	f.phase(t, "shop-android", v1alpha1.ChannelInReview, 60*time.Second)
	if status, fraction, codes := playTrack(t, fake, "11"); status != "inProgress" || fraction != 0.01 || len(codes) != 1 || codes[0] != "11" {
		t.Errorf("submitted: the fake's track holds %s %v %v, want inProgress 0.01 [11]", status, fraction, codes)
	}
	listings, err := fake.CommittedListings("dev.bollard.shop")
	if err != nil {
		t.Fatal(err)
	}
	if l := string(listings); !strings.Contains(l, `"en-US":{"language":"en-US","title":"Bollard Shop","shortDescription":"Checkout in two taps.","fullDescription":"The shop that ships safely."}`) ||
		!strings.Contains(l, `"de-DE":{"language":"de-DE","title":"Bollard Laden"}`) {
		t.Errorf("the fake's committed listings: %s", l)
	}
	if track, err := fake.CommittedTrack("dev.bollard.shop", "production"); err != nil || !strings.Contains(string(track), `{"language":"en-US","text":"Two-tap checkout."}`) {
		t.Errorf("the release notes from git did not replace the spec's: %s %v", track, err)
	}
	if err := fake.SetReview("dev.bollard.shop", 11, "PUBLISHED"); err != nil {
		t.Fatal(err)
	}
	done := f.phase(t, "shop-android", v1alpha1.ChannelCompleted, 90*time.Second)
	steps := logSteps(done)
	for _, want := range []string{"pre-flight: OK", "store metadata: OK " + meta.url() + "@" + metaCommit + ":fastlane/metadata/android: store listing de-DE, en-US; release notes en-US",
		"submit: OK", "at 1%", "store review: OK APPROVED", "step 1%: OK", "crash-rate 0",
		"step 10%: OK", "userFraction 0.1", "step 50%: OK", "userFraction 0.5", "step 100%: OK", "STATUS SUCCESS"} {
		if !strings.Contains(steps, want) {
			t.Errorf("the Deployment Log lacks %q:\n%s", want, steps)
		}
	}
	if status, _, codes := playTrack(t, fake, "11"); status != "completed" || len(codes) != 1 || codes[0] != "11" {
		t.Errorf("completed: the fake's track holds %s %v", status, codes)
	}

	// Crash rate up at 10 %: halted, committed; resumed at 5 % after the fix.
	if err := f.env.Client.Get(ctx, client.ObjectKeyFromObject(cr), cr); err != nil {
		t.Fatal(err)
	}
	cr.Spec = spec(bundle("1.2.0", 12, true), "1.2.0", 12, 6*time.Second)
	if err := f.env.Client.Update(ctx, cr); err != nil {
		t.Fatal(err)
	}
	f.phase(t, "shop-android", v1alpha1.ChannelInReview, 60*time.Second)
	if err := fake.SetReview("dev.bollard.shop", 12, "PUBLISHED"); err != nil {
		t.Fatal(err)
	}
	f.env.Eventually(t, 60*time.Second, "1.2.0 at 10%", func(ctx context.Context) (bool, error) {
		err := f.env.Client.Get(ctx, client.ObjectKeyFromObject(cr), cr)
		return err == nil && cr.Status.Percent == 10, nil
	})
	f.exp.set("1.2.0", behaviour{Latency: 30 * time.Millisecond, ErrorRate: 0.5})
	halted := f.phase(t, "shop-android", v1alpha1.ChannelHalted, 60*time.Second)
	steps = logSteps(halted)
	for _, want := range []string{"step 10% SLO guard: FAIL crash-rate ", "halt: OK", "Users who already updated keep the build", "STATUS HALTED"} {
		if !strings.Contains(steps, want) {
			t.Errorf("the breach's Deployment Log lacks %q:\n%s", want, steps)
		}
	}
	if status, fraction, codes := playTrack(t, fake, "12"); status != "halted" || fraction != 0.1 || codes[0] != "12" {
		t.Errorf("halted: the fake's track holds %s %v %v, want halted 0.1 [12]", status, fraction, codes)
	}
	f.exp.set("1.2.0", behaviour{Latency: 30 * time.Millisecond})
	time.Sleep(6 * time.Second) // the 5 s rate window forgets the crashes
	if out, code := bollardCLI(t, f.env, "channel", "resume", "shop-android", "-n", f.ns, "--percent", "5"); code != 0 {
		t.Fatalf("bollard channel resume: exit %d:\n%s", code, out)
	}
	if status, fraction, _ := playTrack(t, fake, "12"); status != "inProgress" && status != "completed" || status == "inProgress" && fraction < 0.05 {
		t.Errorf("resumed: the fake's track holds %s %v", status, fraction)
	}
	resumed := f.phase(t, "shop-android", v1alpha1.ChannelCompleted, 120*time.Second)
	if steps := logSteps(resumed); !strings.Contains(steps, "resume (requested): OK offered to 5% again") || !strings.Contains(steps, "step 5%: OK") || !strings.Contains(steps, "STATUS SUCCESS") {
		t.Errorf("the resumed log:\n%s", steps)
	}

	// Unsigned: refused, and the fake hears nothing.
	calls := len(fake.Calls())
	unsigned := &v1alpha1.ChannelRelease{ObjectMeta: metav1.ObjectMeta{Namespace: f.ns, Name: "shop-unsigned"}, Spec: spec(bundle("1.3.0", 13, false), "1.3.0", 13, time.Second)}
	if err := f.env.Client.Create(ctx, unsigned); err != nil {
		t.Fatal(err)
	}
	if r := f.phase(t, "shop-unsigned", v1alpha1.ChannelRefused, 60*time.Second); !strings.Contains(r.Status.Message, "no signatures found") {
		t.Errorf("refusal: %s", r.Status.Message)
	}
	if n := len(fake.Calls()); n != calls {
		t.Errorf("the refused bundle made %d calls to the fake, want 0: %+v", n-calls, fake.Calls()[calls:])
	}

	// A title over Play's 30 characters in git: refused, naming the file, and the fake hears nothing.
	meta.commit(t, "a long title", map[string]string{"fastlane/metadata/android/de-DE/title.txt": "Bollard Laden — jetzt noch schneller\n"})
	long := &v1alpha1.ChannelRelease{ObjectMeta: metav1.ObjectMeta{Namespace: f.ns, Name: "shop-long-title"}, Spec: spec(bundle("1.6.0", 16, true), "1.6.0", 16, time.Second)}
	long.Spec.Target.GooglePlay.Metadata = &v1alpha1.GitSource{URL: meta.url()}
	if err := f.env.Client.Create(ctx, long); err != nil {
		t.Fatal(err)
	}
	if r := f.phase(t, "shop-long-title", v1alpha1.ChannelRefused, 60*time.Second); !strings.Contains(r.Status.Message, "fastlane/metadata/android/de-DE/title.txt: 36 characters; Play allows 30") {
		t.Errorf("a title over the limit: %s", r.Status.Message)
	}
	if n := len(fake.Calls()); n != calls {
		t.Errorf("the refused listing made %d calls to the fake, want 0", n-calls)
	}

	// The upload key pinned: a bundle jarsigner signed with another key is refused before
	// anything is sent; one signed with the pinned key goes on (here to a review that fails).
	upload, other := codesigntest.NewUploadKey(t, "CN=Shop upload"), codesigntest.NewUploadKey(t, "CN=Someone else")
	jarSigned := func(version string, code int64, key codesigntest.UploadKey) name.Digest {
		b, err := playfake.NewBundle(playfake.BundleSpec{Package: "dev.bollard.shop", VersionCode: code, VersionName: version})
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(t.TempDir(), "shop.aab")
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}
		key.Sign(t, path)
		if b, err = os.ReadFile(path); err != nil {
			t.Fatal(err)
		}
		d := pushArtifact(t, f.reg.Host, "shop/android:"+version, "shop.aab", b)
		f.signer.Sign(t, d)
		return d
	}
	pinned := func(s v1alpha1.ChannelReleaseSpec) v1alpha1.ChannelReleaseSpec {
		s.Verify = &v1alpha1.ChannelVerify{AndroidUploadCertSHA256: []string{upload.Fingerprint}}
		return s
	}
	calls = len(fake.Calls())
	wrongKey := &v1alpha1.ChannelRelease{ObjectMeta: metav1.ObjectMeta{Namespace: f.ns, Name: "shop-wrong-key"}, Spec: pinned(spec(jarSigned("1.5.0", 15, other), "1.5.0", 15, time.Second))}
	if err := f.env.Client.Create(ctx, wrongKey); err != nil {
		t.Fatal(err)
	}
	if r := f.phase(t, "shop-wrong-key", v1alpha1.ChannelRefused, 60*time.Second); !strings.Contains(r.Status.Message, "signed by CN=Someone else") || !strings.Contains(r.Status.Message, "not a pinned upload certificate") {
		t.Errorf("wrong upload key: %s", r.Status.Message)
	}
	if n := len(fake.Calls()); n != calls {
		t.Errorf("the wrongly signed bundle made %d calls to the fake, want 0", n-calls)
	}

	// Not approved by review: Rejected.
	rejected := &v1alpha1.ChannelRelease{ObjectMeta: metav1.ObjectMeta{Namespace: f.ns, Name: "shop-rejected"}, Spec: pinned(spec(jarSigned("1.4.0", 14, upload), "1.4.0", 14, time.Second))}
	if err := f.env.Client.Create(ctx, rejected); err != nil {
		t.Fatal(err)
	}
	if r := f.phase(t, "shop-rejected", v1alpha1.ChannelInReview, 60*time.Second); !strings.Contains(logSteps(r), "upload key: OK JAR signature verified, every entry signed; signer CN=Shop upload") {
		t.Errorf("the pinned upload key's bundle:\n%s", logSteps(r))
	}
	if err := fake.SetReview("dev.bollard.shop", 14, "NOT_APPROVED"); err != nil {
		t.Fatal(err)
	}
	if r := f.phase(t, "shop-rejected", v1alpha1.ChannelRejected, 60*time.Second); !strings.Contains(r.Status.Message, "not approved") {
		t.Errorf("rejection: %s", r.Status.Message)
	}
}

// TestChannelReleaseSIGKILL: the real daemon process killed with SIGKILL while a ChannelRelease
// holds its 50 % step resumes there when started again — the steps passed are not taken again,
// and the change completes with one Deployment Log.
func TestChannelReleaseSIGKILL(t *testing.T) {
	t.Parallel()
	f := newChannelFixture(t)
	p := startDaemonProcess(t, &releaseFixture{env: f.env, ns: f.ns, gitDir: t.TempDir()}, "--verify-images=true", "--feed-root", f.root)
	ctx := context.Background()
	cr := &v1alpha1.ChannelRelease{ObjectMeta: metav1.ObjectMeta{Namespace: f.ns, Name: "shop-desktop"}, Spec: f.spec(f.artifact(t, "1.1.0", true), "1.1.0", 4*time.Second)}
	if err := f.env.Client.Create(ctx, cr); err != nil {
		t.Fatal(err)
	}
	f.env.Eventually(t, 90*time.Second, "the 50% step", func(ctx context.Context) (bool, error) {
		err := f.env.Client.Get(ctx, client.ObjectKeyFromObject(cr), cr)
		return err == nil && cr.Status.Percent == 50, nil
	})
	p.kill(t)
	if ptr, _ := f.repo.Pointer("stable", "linux-amd64"); ptr.Version != "1.1.0" || ptr.Percent != 50 {
		t.Fatalf("at the kill the feed offers %+v", ptr)
	}
	p.start(t)
	done := f.phase(t, "shop-desktop", v1alpha1.ChannelCompleted, 90*time.Second)
	steps := logSteps(done)
	if strings.Count(steps, "submit: OK") != 1 || strings.Count(steps, "step 10%: OK") != 1 || strings.Count(steps, "step 50%: OK") != 1 || !strings.Contains(steps, "STATUS SUCCESS") {
		t.Errorf("after the restart the log says:\n%s", steps)
	}
	if len(done.Status.History) != 1 {
		t.Errorf("%d Deployment Logs, want 1", len(done.Status.History))
	}
	if ptr, _ := f.repo.Pointer("stable", "linux-amd64"); ptr.Version != "1.1.0" || ptr.Percent != 100 {
		t.Errorf("after the restart the feed offers %+v", ptr)
	}
}

// TestChannelReleaseAdmission: the webhook gates ChannelReleases as it gates images, through the
// real API server — an unsigned artifact is denied at kubectl time naming spec.artifact.ref, a
// signed one admitted; inside a freeze a new spec is denied while the red button (a halt request:
// an annotation) is admitted, and it still is with the webhook down (failurePolicy Fail), when
// every spec change is refused.
func TestChannelReleaseAdmission(t *testing.T) {
	t.Parallel()
	env := kubetest.Get(t)
	ns := env.Namespace(t)
	ctx := context.Background()
	reg, signer := signingPolicy(t, env, ns)
	gate := startGateWith(t, env, ns, webhook.Config{Images: imagesig.New(imagesig.Options{Timeout: 3 * time.Second, NegativeTTL: time.Second}), NoMatchPolicy: "deny"})
	signed := pushArtifact(t, reg.Host, "shop/app:1.0.0", "shop", []byte("shop 1.0.0"))
	signer.Sign(t, signed)
	unsigned := pushArtifact(t, reg.Host, "shop/app:1.1.0", "shop", []byte("shop 1.1.0"))
	release := func(n string, ref name.Digest, version string) *v1alpha1.ChannelRelease {
		return &v1alpha1.ChannelRelease{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: n}, Spec: v1alpha1.ChannelReleaseSpec{
			Artifact: v1alpha1.ChannelArtifact{Ref: ref.String(), Version: version},
			Target:   v1alpha1.ChannelTarget{Type: v1alpha1.ChannelFeed, Feed: &v1alpha1.FeedTarget{Repository: "shop", Channel: "stable", Platform: "linux-amd64"}},
			Steps:    []int32{10, 100},
		}}
	}
	env.Eventually(t, 30*time.Second, "the gate to check ChannelReleases", func(ctx context.Context) (bool, error) {
		err := env.Client.Create(ctx, release("probe", unsigned, "1.1.0"), client.DryRunAll)
		return err != nil && strings.Contains(err.Error(), "no signatures found"), nil
	})
	err := env.Client.Create(ctx, release("bad", unsigned, "1.1.0"))
	if want := "image " + unsigned.String() + " in spec.artifact.ref is not allowed by ClusterImagePolicy " + ns + "-signed: no signatures found"; err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("unsigned artifact: err = %v, want %q", err, want)
	}
	shop := release("shop", signed, "1.0.0")
	if err := env.Client.Create(ctx, shop); err != nil {
		t.Fatalf("signed artifact: %v", err)
	}

	createPolicy(t, env, &v1alpha1.DeployPolicy{ObjectMeta: metav1.ObjectMeta{Name: ns + "-freeze"}, Spec: v1alpha1.DeployPolicySpec{
		Scope: v1alpha1.Scope{Namespaces: []string{ns}}, FreezeWindows: []v1alpha1.FreezeWindow{alwaysFrozen()}}})
	respec := func() error {
		var cr v1alpha1.ChannelRelease
		if err := env.Client.Get(ctx, client.ObjectKeyFromObject(shop), &cr); err != nil {
			return err
		}
		cr.Spec.Steps = []int32{100}
		return env.Client.Update(ctx, &cr)
	}
	red := func(stamp string) error {
		var cr v1alpha1.ChannelRelease
		if err := env.Client.Get(ctx, client.ObjectKeyFromObject(shop), &cr); err != nil {
			return err
		}
		if cr.Annotations == nil {
			cr.Annotations = map[string]string{}
		}
		cr.Annotations[v1alpha1.AnnotationChannelRequest] = "halt@" + stamp
		return env.Client.Update(ctx, &cr)
	}
	env.Eventually(t, 30*time.Second, "the freeze to reach the gate", func(ctx context.Context) (bool, error) {
		err := respec()
		return err != nil && strings.Contains(err.Error(), "frozen by window `code-freeze`"), nil
	})
	if err := red("1"); err != nil {
		t.Errorf("halt request inside a freeze: %v", err)
	}
	gate.Close()
	env.Eventually(t, 30*time.Second, "spec changes refused with the webhook down", func(ctx context.Context) (bool, error) {
		err := respec()
		return err != nil && strings.Contains(err.Error(), "failed calling webhook"), nil
	})
	if err := red("2"); err != nil {
		t.Errorf("halt request with the webhook down: %v", err)
	}
	var cr v1alpha1.ChannelRelease
	if err := env.Client.Get(ctx, client.ObjectKeyFromObject(shop), &cr); err != nil || cr.Annotations[v1alpha1.AnnotationChannelRequest] != "halt@2" || len(cr.Spec.Steps) != 2 {
		t.Errorf("after the gate went down: %v, annotations %v, steps %v", err, cr.Annotations, cr.Spec.Steps)
	}
}
