package deid

import (
	"context"
	"fmt"

	"cloud.google.com/go/dlp/apiv2/dlppb"
	"github.com/googleapis/gax-go/v2"
	"google.golang.org/protobuf/proto"
)

// ReidentifyConfig derives DLP's ReidentifyContent configs from a masking
// config: the reversible transformations (cryptoDeterministicConfig) only,
// with their surrogate infoTypes declared as SurrogateType custom infoTypes
// so DLP finds the tokens in free text. ok is false when nothing in cfg is
// reversible.
func ReidentifyConfig(cfg *Config, headers []string) (rc *dlppb.DeidentifyConfig, ic *dlppb.InspectConfig, ok bool) {
	ic = &dlppb.InspectConfig{}
	surrogates := map[string]bool{}
	var itts []*dlppb.InfoTypeTransformations_InfoTypeTransformation
	addITT := func(pt *dlppb.PrimitiveTransformation) {
		cd := pt.GetCryptoDeterministicConfig()
		name := cd.GetSurrogateInfoType().GetName()
		if cd == nil || name == "" || surrogates[name] {
			return
		}
		surrogates[name] = true
		ic.CustomInfoTypes = append(ic.CustomInfoTypes, &dlppb.CustomInfoType{
			InfoType: &dlppb.InfoType{Name: name},
			Type:     &dlppb.CustomInfoType_SurrogateType_{SurrogateType: &dlppb.CustomInfoType_SurrogateType{}},
		})
		itts = append(itts, &dlppb.InfoTypeTransformations_InfoTypeTransformation{
			InfoTypes:               []*dlppb.InfoType{{Name: name}},
			PrimitiveTransformation: pt,
		})
	}
	present := map[string]bool{}
	for _, h := range headers {
		present[h] = true
	}
	named := map[string]bool{}
	var fts []*dlppb.FieldTransformation
	switch t := cfg.Deidentify.GetTransformation().(type) {
	case *dlppb.DeidentifyConfig_InfoTypeTransformations:
		for _, x := range t.InfoTypeTransformations.GetTransformations() {
			addITT(x.GetPrimitiveTransformation())
		}
	case *dlppb.DeidentifyConfig_RecordTransformations:
		for _, ft := range t.RecordTransformations.GetFieldTransformations() {
			pt := ft.GetPrimitiveTransformation()
			for _, x := range ft.GetInfoTypeTransformations().GetTransformations() {
				addITT(x.GetPrimitiveTransformation())
			}
			if pt.GetCryptoDeterministicConfig() == nil {
				continue
			}
			if pt.GetCryptoDeterministicConfig().GetSurrogateInfoType().GetName() != "" {
				addITT(pt)
				continue
			}
			var fields []*dlppb.FieldId
			for _, f := range ft.GetFields() {
				if present[f.GetName()] {
					fields = append(fields, f)
					named[f.GetName()] = true
				}
			}
			if len(fields) > 0 {
				fts = append(fts, &dlppb.FieldTransformation{Fields: fields,
					Transformation: &dlppb.FieldTransformation_PrimitiveTransformation{PrimitiveTransformation: pt}})
			}
		}
	}
	if len(itts) == 0 && len(fts) == 0 {
		return nil, nil, false
	}
	if len(itts) > 0 {
		var rest []*dlppb.FieldId
		for _, h := range headers {
			if !named[h] {
				rest = append(rest, &dlppb.FieldId{Name: h})
			}
		}
		if len(rest) > 0 {
			fts = append(fts, &dlppb.FieldTransformation{Fields: rest,
				Transformation: &dlppb.FieldTransformation_InfoTypeTransformations{
					InfoTypeTransformations: &dlppb.InfoTypeTransformations{Transformations: itts}}})
		}
	}
	rc = &dlppb.DeidentifyConfig{Transformation: &dlppb.DeidentifyConfig_RecordTransformations{
		RecordTransformations: &dlppb.RecordTransformations{FieldTransformations: fts}}}
	return rc, ic, true
}

// Reidentify reverses cryptoDeterministicConfig tokens made by Cloud DLP,
// through ReidentifyContent, with the same batching, pacing, retries and
// splitting as Deidentify. Cells without tokens come back unchanged. The
// caller checks group membership and records the audit event.
func (d *DLP) Reidentify(ctx context.Context, t *Table) (*Table, error) {
	if t == nil {
		return nil, fmt.Errorf("%w: no table", ErrTable)
	}
	if d.cfg.Deidentify == nil {
		return nil, fmt.Errorf("%w: re-identification needs an inline deidentifyConfig", ErrConfig)
	}
	rc, ic, ok := ReidentifyConfig(d.cfg, t.Headers)
	if !ok {
		return nil, fmt.Errorf("%w: the masking config has no reversible transformation", ErrConfig)
	}
	request := func(tbl *dlppb.Table) *dlppb.ReidentifyContentRequest {
		return &dlppb.ReidentifyContentRequest{Parent: d.parent, ReidentifyConfig: rc, InspectConfig: ic,
			Item: &dlppb.ContentItem{DataItem: &dlppb.ContentItem_Table{Table: tbl}}}
	}
	out, _, err := d.batched(ctx, t, proto.Size(request(&dlppb.Table{})), func(ctx context.Context, tbl *dlppb.Table) (*dlppb.Table, *dlppb.TransformationOverview, error) {
		resp, err := d.call(ctx, func() (proto.Message, error) {
			return d.client.ReidentifyContent(ctx, request(tbl), gax.WithRetry(nil))
		})
		if err != nil {
			return nil, nil, err
		}
		r := resp.(*dlppb.ReidentifyContentResponse)
		return r.GetItem().GetTable(), r.GetOverview(), nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}
