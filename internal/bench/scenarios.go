package bench

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync"
)

// Tenant is one tenant prepared for a run.
type Tenant struct {
	Slug  string
	Token string // an API token with the owner role
	// Email and Password log in as the owner (login scenario only, once
	// the owner is activated with Activation).
	Email, Password, Activation string
	Records                     []string // preloaded record ids in the bench collection
}

// Collection is the collection every scenario uses: three plain fields and
// two sealed ones (one personal, one confidential).
const Collection = "bench"

// RecordBody returns the body of record n.
func RecordBody(n int) map[string]any {
	return map[string]any{
		"title":  "record " + strconv.Itoa(n),
		"count":  n,
		"active": n%2 == 0,
		"email":  fmt.Sprintf("person%d@example.com", n),
		"note":   fmt.Sprintf("confidential note number %d", n),
	}
}

// Numbers numbers the records the workers create: worker w's k-th is
// w*1,000,000+k, so no two workers make the same record and every
// scenario that creates (create, mix, bare) sends bodies of the same
// sizes. Each worker uses only its own counter.
type Numbers struct{ next []int }

// NewNumbers returns counters for up to 4,096 workers.
func NewNumbers() *Numbers { return &Numbers{next: make([]int, 4096)} }

// Next returns worker w's next record number.
func (n *Numbers) Next(w int) int {
	i := w % len(n.next)
	n.next[i]++
	return w*1_000_000 + n.next[i]
}

// Scenarios builds the operations of each scenario over prepared tenants.
type Scenarios struct {
	C       *Client
	Tenants []Tenant

	// Concurrency is the number of workers (update deals records to them).
	Concurrency int

	mu       sync.Mutex
	versions map[string]int64 // record id -> last known version (update)
	owned    map[int][]ownedRecord
}

// tenant picks a tenant uniformly at random, so that every tenant is in
// use, and warm, after the warm-up: walking them in order left tenants a
// run never reached before the measurement, and the first request of each
// (its credential, scope and keys loaded cold) fell in the measured time,
// which is not the steady state the tenants comparison is about.
func (s *Scenarios) tenant() *Tenant { return &s.Tenants[rand.IntN(len(s.Tenants))] }

// Warm reads once as every tenant, from concurrency workers, before
// anything is measured. The setup writes the tenants straight into the
// database, so the server has met none of them: without this, each
// tenant's first request (its credential, collection and keys loaded and
// unwrapped once) fell into the measured time of whichever scenario came
// first, more of them the more tenants there are, where a server that has
// been running has them all in memory.
func (s *Scenarios) Warm(ctx context.Context, concurrency int) error {
	tenants := make(chan *Tenant)
	errs := make(chan error, concurrency)
	var wg sync.WaitGroup
	for range concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for t := range tenants {
				if _, err := s.C.Do(ctx, "GET", recordsPath("")+"?limit=1", t.Token, nil, nil, nil, 200); err != nil {
					errs <- fmt.Errorf("warm tenant %s: %w", t.Slug, err)
					return
				}
			}
		}()
	}
	var err error
feed:
	for i := range s.Tenants {
		select {
		case tenants <- &s.Tenants[i]:
		case err = <-errs:
			break feed
		}
	}
	close(tenants)
	wg.Wait()
	if err == nil {
		select {
		case err = <-errs:
		default:
		}
	}
	return err
}

func recordsPath(id string) string {
	p := "/api/v1/collections/" + Collection + "/records"
	if id != "" {
		p += "/" + id
	}
	return p
}

// Op returns the operation of a scenario by name.
func (s *Scenarios) Op(name string) (Op, error) {
	numbers := NewNumbers()
	switch name {
	case "create":
		return func(ctx context.Context, w int) error {
			t := s.tenant()
			_, err := s.C.Do(ctx, "POST", recordsPath(""), t.Token, nil, RecordBody(numbers.Next(w)), nil, 201)
			return err
		}, nil
	case "get":
		return func(ctx context.Context, w int) error {
			t := s.tenant()
			if len(t.Records) == 0 {
				return fmt.Errorf("no preloaded records")
			}
			_, err := s.C.Do(ctx, "GET", recordsPath(t.Records[rand.IntN(len(t.Records))]), t.Token, nil, nil, nil, 200)
			return err
		}, nil
	case "list":
		return func(ctx context.Context, w int) error {
			t := s.tenant()
			_, err := s.C.Do(ctx, "GET", recordsPath("")+"?limit=20&active=true", t.Token, nil, nil, nil, 200)
			return err
		}, nil
	case "update":
		return s.update, nil
	case "login":
		return func(ctx context.Context, w int) error {
			t := s.tenant()
			if t.Password == "" {
				return fmt.Errorf("tenant %s has no login prepared", t.Slug)
			}
			body := map[string]string{"tenant": t.Slug, "email": t.Email, "password": t.Password}
			_, err := s.C.Do(ctx, "POST", "/api/v1/auth/login", "", nil, body, nil, 200)
			return err
		}, nil
	case "mix":
		ops := map[string]Op{}
		for _, n := range []string{"get", "list", "create", "update"} {
			ops[n], _ = s.Op(n)
		}
		return func(ctx context.Context, w int) error {
			// 70% reads by id, 10% lists, 15% creates, 5% updates.
			switch x := rand.IntN(100); {
			case x < 70:
				return ops["get"](ctx, w)
			case x < 80:
				return ops["list"](ctx, w)
			case x < 95:
				return ops["create"](ctx, w)
			default:
				return ops["update"](ctx, w)
			}
		}, nil
	}
	return nil, fmt.Errorf("unknown scenario %q", name)
}

// update patches a record with If-Match. Each worker updates only its own
// records (record j belongs to worker j mod concurrency), so with enough
// records no two workers race for one and every 412 is a real error.
func (s *Scenarios) update(ctx context.Context, w int) error {
	s.mu.Lock()
	if s.versions == nil {
		s.versions = map[string]int64{}
	}
	mine := s.owned[w]
	if mine == nil {
		s.owned = s.ownership()
		mine = s.owned[w]
	}
	s.mu.Unlock()
	if len(mine) == 0 {
		return fmt.Errorf("no preloaded records for worker %d", w)
	}
	o := mine[rand.IntN(len(mine))]
	s.mu.Lock()
	v := s.versions[o.id]
	s.mu.Unlock()
	if v == 0 {
		var rec struct {
			Version int64 `json:"version"`
		}
		if _, err := s.C.Do(ctx, "GET", recordsPath(o.id), o.t.Token, nil, nil, &rec, 200); err != nil {
			return err
		}
		v = rec.Version
	}
	var rec struct {
		Version int64 `json:"version"`
	}
	hdr := map[string]string{"If-Match": `"` + strconv.FormatInt(v, 10) + `"`}
	_, err := s.C.Do(ctx, "PATCH", recordsPath(o.id), o.t.Token, hdr, map[string]any{"count": rand.IntN(1000)}, &rec, 200)
	s.mu.Lock()
	if err != nil {
		delete(s.versions, o.id) // read it again next time
	} else {
		s.versions[o.id] = rec.Version
	}
	s.mu.Unlock()
	return err
}

type ownedRecord struct {
	t  *Tenant
	id string
}

// ownership deals the preloaded records out to the workers.
func (s *Scenarios) ownership() map[int][]ownedRecord {
	out := map[int][]ownedRecord{}
	j := 0
	for i := range s.Tenants {
		for _, id := range s.Tenants[i].Records {
			w := j % s.Concurrency
			out[w] = append(out[w], ownedRecord{t: &s.Tenants[i], id: id})
			j++
		}
	}
	return out
}
