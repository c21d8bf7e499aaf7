package service

import (
	"context"
	"encoding/json"

	"github.com/google/uuid"
	"github.com/labspace/labspace"
	"github.com/labspace/labspace/store"
)

// Preferences (labspace.Preferences) are kept one record per subject, of
// a kind the API does not serve: they belong to the UI, and only their
// owner reads or writes them. They go when their user goes (beforeDelete).

// kindPreferences is the records' kind, named by the subject ("user:rita")
// in the global scope.
const kindPreferences labspace.Kind = "preferences"

// Preferences returns the caller's own preferences; zero ones when the
// caller never saved any.
func (s *Service) Preferences(ctx context.Context) (*labspace.Preferences, error) {
	a, err := actor(ctx)
	if err != nil {
		return nil, err
	}
	p := &labspace.Preferences{}
	err = s.store.View(ctx, func(tx store.Tx) error {
		rec, err := tx.GetByName(kindPreferences, labspace.Global, a.Subject.String())
		if labspace.ErrorCode(err) == labspace.ENOTFOUND {
			return nil
		}
		if err != nil {
			return err
		}
		return json.Unmarshal(rec.Data, p)
	})
	return p, err
}

// SetPreferences replaces the caller's own preferences. Returns EINVALID
// for preferences of a bad shape.
func (s *Service) SetPreferences(ctx context.Context, p *labspace.Preferences) error {
	a, err := actor(ctx)
	if err != nil {
		return err
	}
	if p == nil {
		p = &labspace.Preferences{}
	}
	var bad labspace.Invalid
	p.Validate(&bad)
	if err := bad.Err(); err != nil {
		return err
	}
	data, err := json.Marshal(p)
	if err != nil {
		return err
	}
	name := a.Subject.String()
	return s.store.Update(ctx, func(tx store.Tx) error {
		now := s.now().UTC()
		rec, err := tx.GetByName(kindPreferences, labspace.Global, name)
		if labspace.ErrorCode(err) == labspace.ENOTFOUND {
			return tx.Insert(&store.Record{Kind: kindPreferences, ID: uuid.NewString(), Name: name, Scope: labspace.Global,
				CreatedAt: now, UpdatedAt: now, CreatedBy: name, Data: data})
		}
		if err != nil {
			return err
		}
		rec.Data, rec.UpdatedAt = data, now
		return tx.Update(rec)
	})
}

// deletePreferences removes sub's preferences, if any.
func deletePreferences(tx store.Tx, sub labspace.Subject) error {
	rec, err := tx.GetByName(kindPreferences, labspace.Global, sub.String())
	if labspace.ErrorCode(err) == labspace.ENOTFOUND {
		return nil
	}
	if err != nil {
		return err
	}
	return tx.Delete(kindPreferences, rec.ID)
}
