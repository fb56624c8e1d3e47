// Package playfake is a contract fake of the Google Play Developer API (Android Publisher
// API v3) for tests: an HTTP server on loopback that the real generated client,
// google.golang.org/api/androidpublisher/v3, talks to with the real OAuth 2.0
// service-account exchange. Google offers no sandbox for this API; the fake is the
// honest stand-in, and only as honest as what it refuses.
//
// What it is built from. Its route table comes from Google's discovery document for the
// API, embedded unchanged (gzipped) from google.golang.org/api v0.283.0 — revision
// 20260528, with that module's LICENSE beside it (see README.md). Every method of the
// document, resources nested, gets its path template (flatPath, else path, plus the
// media-upload paths) and HTTP method. A request for a path the document lacks answers
// 404; a documented method the fake does not implement answers 501; both in Google's JSON
// error shape, so a client's googleapi.Error parses them. The fake does not import the
// generated client and shares no types with the code under test: it reads and writes JSON
// through its own small structs.
//
// Authentication. ServiceAccountJSON hands out a key file whose token_uri is the fake's
// token endpoint. The endpoint takes the JWT-bearer grant and verifies the assertion's
// RS256 signature, issuer, audience, scope and lifetime as Google's service-account guide
// specifies; every API call then needs "Authorization: Bearer <token>" with a token the
// fake issued (401 otherwise) carrying a scope the method lists (403 otherwise).
//
// What it implements: edits.insert/get/delete/validate/commit, edits.bundles.upload
// (uploadType media, multipart and resumable) and .list, edits.tracks.get/list/update,
// edits.listings.update/get and applications.tracks.releases.list. State is per package:
// committed bundles, tracks and store listings; an edit is a copy of them taken at insert and replaces them in one step at
// commit, which discards every other open edit of the app. An uploaded bundle's
// versionCode is what its base module manifest says (NewBundle builds such a zip).
//
// Rules it enforces — only ones Google documents, each cited where it is checked:
// unknown package or edit → 404; a committed, deleted, superseded or expired edit is
// refused; userFraction only with status inProgress or halted and inside (0, 1); status
// from the schema's enum; countryTargeting only for inProgress releases on production;
// inAppUpdatePriority in [0, 5]; a release's versionCodes must have been uploaded;
// versionCode in 1..2100000000 and never reused; the bundle's package must be the app's;
// upload media type from mediaUpload.accept; enum and boolean query parameters; request
// bodies with fields the schema lacks; a listing's language shaped as BCP-47 (the schema's
// description) and its title, short and full description within the Play Console's 30, 80
// and 4,000 characters (Play Console Help, answer 9859152).
//
// Review. The fake never decides a review: a committed release is
// RELEASE_LIFECYCLE_STATE_IN_REVIEW (DRAFT for a draft) in releases.list until the test
// sets an outcome with SetReview.
//
// What it does not model: how Play merges releases a tracks.update leaves out (the fake
// stores the releases sent), Play's review itself, policy checks on the bundle (signing,
// target API level, permissions), the changesNotSentForReview/changesInReviewBehavior
// semantics (the parameters are only type-checked), the length of release notes (the API
// reference gives LocalizedText.text no limit; the 500 characters of the Play Console are
// checked by the provider, not here), countries, testers, listing images, which languages Play supports, quotas and rate limits. A test that passes against the fake says the client speaks the API as
// documented — not that Google Play accepted anything.
package playfake
