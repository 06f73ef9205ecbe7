package web

import (
	"net/http"

	bulwark "github.com/bulwarkhq/bulwark"
)

type fieldRequest struct {
	Name           string                 `json:"name"`
	Type           bulwark.FieldType      `json:"type"`
	Classification bulwark.Classification `json:"classification"`
	Required       bool                   `json:"required"`
	Unique         bool                   `json:"unique"`
	Lookup         bool                   `json:"lookup"`
}

func toFields(in []fieldRequest) []bulwark.Field {
	if in == nil {
		return nil
	}
	out := make([]bulwark.Field, len(in))
	for i, f := range in {
		out[i] = bulwark.Field{Name: f.Name, Type: f.Type, Classification: f.Classification, Required: f.Required, Unique: f.Unique, Lookup: f.Lookup}
	}
	return out
}

// createCollectionRequest has no id or timestamps: the store sets them.
type createCollectionRequest struct {
	Name   string         `json:"name"`
	Fields []fieldRequest `json:"fields"`
}

type updateCollectionRequest struct {
	AddFields       []fieldRequest                    `json:"add_fields"`
	Classifications map[string]bulwark.Classification `json:"classifications"`
}

func handleListCollections(cs bulwark.CollectionService) http.Handler {
	return handlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		if err := noQuery(r); err != nil {
			return err
		}
		list, err := cs.ListCollections(r.Context())
		if err != nil {
			return err
		}
		encode(w, http.StatusOK, listOf(list, ""))
		return nil
	})
}

func handleCreateCollection(cs bulwark.CollectionService) http.Handler {
	return handlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		in, err := decode[createCollectionRequest](w, r)
		if err != nil {
			return err
		}
		c, err := cs.CreateCollection(r.Context(), bulwark.Collection{Name: in.Name, Fields: toFields(in.Fields)})
		if err != nil {
			return err
		}
		created(w, http.StatusCreated, location("/api/v1/collections", c.Name), c)
		return nil
	})
}

func handleGetCollection(cs bulwark.CollectionService) http.Handler {
	return handlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		c, err := cs.GetCollection(r.Context(), r.PathValue("collection"))
		if err != nil {
			return err
		}
		encode(w, http.StatusOK, c)
		return nil
	})
}

func handleUpdateCollection(cs bulwark.CollectionService) http.Handler {
	return handlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		in, err := decode[updateCollectionRequest](w, r)
		if err != nil {
			return err
		}
		c, err := cs.UpdateCollection(r.Context(), r.PathValue("collection"), bulwark.CollectionUpdate{
			AddFields:       toFields(in.AddFields),
			Classifications: in.Classifications,
		})
		if err != nil {
			return err
		}
		encode(w, http.StatusOK, c)
		return nil
	})
}

func handleDeleteCollection(cs bulwark.CollectionService) http.Handler {
	return handlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		if err := cs.DeleteCollection(r.Context(), r.PathValue("collection")); err != nil {
			return err
		}
		w.WriteHeader(http.StatusNoContent)
		return nil
	})
}
