package playfake

import (
	"archive/zip"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"

	"google.golang.org/protobuf/encoding/protowire"
)

// An Android App Bundle is a zip whose base module manifest,
// base/manifest/AndroidManifest.xml, is not text XML but a protobuf aapt.pb.XmlNode —
// the message of AOSP's frameworks/base/tools/aapt2/Resources.proto. The Bundle schema
// says Play takes versionCode "as specified in the Android App Bundle's base module APK
// manifest file", and so does the fake: it decodes the fields it needs with protowire.
//
//	XmlNode      { XmlElement element = 1; string text = 2; }
//	XmlElement   { repeated XmlNamespace namespace_declaration = 1; string namespace_uri = 2;
//	               string name = 3; repeated XmlAttribute attribute = 4; repeated XmlNode child = 5; }
//	XmlAttribute { string namespace_uri = 1; string name = 2; string value = 3;
//	               SourcePosition source = 4; uint32 resource_id = 5; Item compiled_item = 6; }
//	Item         { … Primitive prim = 7; }
//	Primitive    { … int32 int_decimal_value = 6; }

const (
	manifestPath = "base/manifest/AndroidManifest.xml"
	androidNS    = "http://schemas.android.com/apk/res/android"
)

type manifest struct {
	packageName string
	versionCode int64
	versionName string
}

func readManifest(aab []byte) (manifest, error) {
	zr, err := zip.NewReader(bytes.NewReader(aab), int64(len(aab)))
	if err != nil {
		return manifest{}, fmt.Errorf("not a zip: %w", err)
	}
	f, err := zr.Open(manifestPath)
	if err != nil {
		return manifest{}, fmt.Errorf("no %s", manifestPath)
	}
	defer f.Close()
	node, err := io.ReadAll(f)
	if err != nil {
		return manifest{}, fmt.Errorf("%s: %w", manifestPath, err)
	}
	element, err := field(node, 1)
	if err != nil {
		return manifest{}, fmt.Errorf("%s: %w", manifestPath, err)
	}
	var m manifest
	var name string
	haveCode := false
	err = eachField(element, func(num protowire.Number, typ protowire.Type, v []byte, _ uint64) error {
		switch {
		case num == 3 && typ == protowire.BytesType:
			name = string(v)
		case num == 4 && typ == protowire.BytesType:
			a, err := readAttribute(v)
			if err != nil {
				return err
			}
			switch {
			case a.name == "package" && a.ns == "":
				m.packageName = a.value
			case a.name == "versionName" && a.ns == androidNS:
				m.versionName = a.value
			case a.name == "versionCode" && a.ns == androidNS:
				code, ok := a.int()
				if !ok {
					return fmt.Errorf("android:versionCode %q is not an integer", a.value)
				}
				m.versionCode, haveCode = code, true
			}
		}
		return nil
	})
	if err != nil {
		return manifest{}, fmt.Errorf("%s: %w", manifestPath, err)
	}
	if name != "manifest" {
		return manifest{}, fmt.Errorf("%s: root element is %q, not manifest", manifestPath, name)
	}
	if !haveCode || m.packageName == "" {
		return manifest{}, fmt.Errorf("%s: no package or android:versionCode", manifestPath)
	}
	return m, nil
}

type attribute struct {
	ns, name, value string
	prim            int64
	hasPrim         bool
}

// int is the attribute's integer: its compiled value when aapt2 compiled one, else its
// source text.
func (a attribute) int() (int64, bool) {
	if a.hasPrim {
		return a.prim, true
	}
	v, err := strconv.ParseInt(a.value, 10, 64)
	return v, err == nil
}

func readAttribute(b []byte) (attribute, error) {
	var a attribute
	err := eachField(b, func(num protowire.Number, typ protowire.Type, v []byte, _ uint64) error {
		switch {
		case num == 1 && typ == protowire.BytesType:
			a.ns = string(v)
		case num == 2 && typ == protowire.BytesType:
			a.name = string(v)
		case num == 3 && typ == protowire.BytesType:
			a.value = string(v)
		case num == 6 && typ == protowire.BytesType:
			prim, err := field(v, 7)
			if err != nil {
				return nil // a compiled item that is not a primitive (a reference)
			}
			return eachField(prim, func(num protowire.Number, typ protowire.Type, _ []byte, n uint64) error {
				if num == 6 && typ == protowire.VarintType {
					a.prim, a.hasPrim = int64(int32(n)), true
				}
				return nil
			})
		}
		return nil
	})
	return a, err
}

// eachField walks a message's fields: v is a length-delimited field's bytes, n a varint.
func eachField(b []byte, fn func(num protowire.Number, typ protowire.Type, v []byte, n uint64) error) error {
	for len(b) > 0 {
		num, typ, l := protowire.ConsumeTag(b)
		if l < 0 {
			return errors.New("malformed protobuf")
		}
		b = b[l:]
		var v []byte
		var n uint64
		switch typ {
		case protowire.BytesType:
			v, l = protowire.ConsumeBytes(b)
		case protowire.VarintType:
			n, l = protowire.ConsumeVarint(b)
		default:
			l = protowire.ConsumeFieldValue(num, typ, b)
		}
		if l < 0 {
			return errors.New("malformed protobuf")
		}
		b = b[l:]
		if err := fn(num, typ, v, n); err != nil {
			return err
		}
	}
	return nil
}

// field is the first length-delimited field num of a message.
func field(b []byte, want protowire.Number) ([]byte, error) {
	var out []byte
	found := false
	err := eachField(b, func(num protowire.Number, typ protowire.Type, v []byte, _ uint64) error {
		if !found && num == want && typ == protowire.BytesType {
			out, found = v, true
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if !found {
		return nil, fmt.Errorf("no field %d", want)
	}
	return out, nil
}

// BundleSpec describes an Android-App-Bundle-shaped zip for tests.
type BundleSpec struct {
	Package     string
	VersionCode int64
	VersionName string
	// Files are further zip entries by path ("base/dex/classes.dex").
	Files map[string][]byte
}

// NewBundle builds a zip laid out like an Android App Bundle: BundleConfig.pb and a base
// module whose manifest is a protobuf XmlNode carrying package, android:versionCode (as
// text and as aapt2's compiled integer) and android:versionName. It is not signed and has
// no resources or code beyond spec.Files: enough for what the fake reads, not a bundle a
// device could install.
func NewBundle(spec BundleSpec) ([]byte, error) {
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	add := func(name string, data []byte) error {
		w, err := zw.Create(name)
		if err != nil {
			return err
		}
		_, err = w.Write(data)
		return err
	}
	if err := add("BundleConfig.pb", nil); err != nil {
		return nil, err
	}
	if err := add(manifestPath, encodeManifest(spec)); err != nil {
		return nil, err
	}
	for _, name := range sortedKeys(spec.Files) {
		if err := add(name, spec.Files[name]); err != nil {
			return nil, err
		}
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func encodeManifest(spec BundleSpec) []byte {
	attr := func(ns, name, value string, prim *int64) []byte {
		var a []byte
		if ns != "" {
			a = protowire.AppendTag(a, 1, protowire.BytesType)
			a = protowire.AppendString(a, ns)
		}
		a = protowire.AppendTag(a, 2, protowire.BytesType)
		a = protowire.AppendString(a, name)
		a = protowire.AppendTag(a, 3, protowire.BytesType)
		a = protowire.AppendString(a, value)
		if prim != nil {
			var p []byte
			p = protowire.AppendTag(p, 6, protowire.VarintType)
			p = protowire.AppendVarint(p, uint64(*prim))
			var item []byte
			item = protowire.AppendTag(item, 7, protowire.BytesType)
			item = protowire.AppendBytes(item, p)
			a = protowire.AppendTag(a, 6, protowire.BytesType)
			a = protowire.AppendBytes(a, item)
		}
		return a
	}
	var ns []byte
	ns = protowire.AppendTag(ns, 1, protowire.BytesType)
	ns = protowire.AppendString(ns, "android")
	ns = protowire.AppendTag(ns, 2, protowire.BytesType)
	ns = protowire.AppendString(ns, androidNS)

	var el []byte
	el = protowire.AppendTag(el, 1, protowire.BytesType)
	el = protowire.AppendBytes(el, ns)
	el = protowire.AppendTag(el, 3, protowire.BytesType)
	el = protowire.AppendString(el, "manifest")
	code := spec.VersionCode
	for _, a := range [][]byte{
		attr(androidNS, "versionCode", strconv.FormatInt(code, 10), &code),
		attr(androidNS, "versionName", spec.VersionName, nil),
		attr("", "package", spec.Package, nil),
	} {
		el = protowire.AppendTag(el, 4, protowire.BytesType)
		el = protowire.AppendBytes(el, a)
	}
	var node []byte
	node = protowire.AppendTag(node, 1, protowire.BytesType)
	return protowire.AppendBytes(node, el)
}
