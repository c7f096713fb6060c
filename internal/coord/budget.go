package coord

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/redis/go-redis/v9"
)

// takeLua counts one TIP request against the gateway's total (KEYS[1]) and,
// when given, a key's counter (KEYS[2]), unless a limit is reached: ARGV[1]
// the gateway's limit and ARGV[2] the key's (0 = none), ARGV[3] the
// counters' TTL in ms. ARGV[4] and ARGV[5] are requests this process made
// while Redis could not count them (for the total and for the key): they
// were spent, so they are added first, whatever the limits say. It answers
// {spent, total, keycount}, spent being "gateway", "key" or "" when counted.
// Checking and counting in one script is what keeps replicas from all
// taking the last request of a budget.
const takeLua = `
local total = tonumber(redis.call('GET', KEYS[1]) or '0')
local kc = 0
if #KEYS > 1 then kc = tonumber(redis.call('GET', KEYS[2]) or '0') end
local owed, kowed = tonumber(ARGV[4]), tonumber(ARGV[5])
if owed > 0 then
  total = redis.call('INCRBY', KEYS[1], owed)
  redis.call('PEXPIRE', KEYS[1], ARGV[3])
end
if #KEYS > 1 and kowed > 0 then
  kc = redis.call('INCRBY', KEYS[2], kowed)
  redis.call('PEXPIRE', KEYS[2], ARGV[3])
end
local limit, klimit = tonumber(ARGV[1]), tonumber(ARGV[2])
if limit > 0 and total >= limit then return {'gateway', total, kc} end
if #KEYS > 1 and klimit > 0 and kc >= klimit then return {'key', total, kc} end
total = redis.call('INCR', KEYS[1])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
if #KEYS > 1 then
  kc = redis.call('INCR', KEYS[2])
  redis.call('PEXPIRE', KEYS[2], ARGV[3])
end
return {'', total, kc}
`

// tally is one counter as this process knows it: the last value read from
// Redis and the requests it counted in memory since, while Redis could not.
// Those are owed to Redis: the next Take that reaches it adds them, so that
// an outage never makes the shared count forget requests that were made.
type tally struct {
	read  int
	since int
}

func (t *tally) count() int { return t.read + t.since }

// Take counts one TIP request for day (UTC "2006-01-02") against the
// gateway's limit and, when key != "", the key's own keyLimit (0 = no
// limit). It counts nothing and returns the budget that is spent ("gateway"
// or "key") when one is; "" when counted. When Redis cannot answer (or
// Healthy reports it down) it counts in memory from the last values it read,
// refuses by that count, and returns a nil error; Redis's values win again
// as soon as it answers. It fails only with the caller's context.
func (r *Redis) Take(ctx context.Context, day, key string, limit, keyLimit int) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", err
	}
	if !r.up() {
		r.setDegraded(true, ErrUnavailable)
		return r.takeLocal(day, key, limit, keyLimit), nil
	}
	keys := []string{r.budgetKey(day, "")}
	if key != "" {
		keys = append(keys, r.budgetKey(day, key))
	}
	r.countMu.Lock()
	owed, kowed := r.tally(day, "").since, 0
	if key != "" {
		kowed = r.tally(day, key).since
	}
	r.countMu.Unlock()
	cctx, cancel := context.WithTimeout(ctx, r.callTimeout)
	defer cancel()
	res, err := r.takeScript.Run(cctx, r.client, keys, max(limit, 0), max(keyLimit, 0), counterTTL.Milliseconds(), owed, kowed).Slice()
	var spent string
	var total, kc int64
	if err == nil {
		spent, total, kc, err = takeReply(res)
	}
	if err != nil {
		if ctx.Err() != nil {
			return "", ctx.Err()
		}
		r.setDegraded(true, err)
		return r.takeLocal(day, key, limit, keyLimit), nil
	}
	r.setDegraded(false, nil)
	r.countMu.Lock()
	defer r.countMu.Unlock()
	// What was owed is in Redis now; anything counted in memory meanwhile
	// (a racing Take that found Redis down) is still owed.
	t := r.tally(day, "")
	*t = tally{read: int(total), since: max(t.since-owed, 0)}
	if key != "" {
		k := r.tally(day, key)
		*k = tally{read: int(kc), since: max(k.since-kowed, 0)}
	}
	return spent, nil
}

func takeReply(res []any) (spent string, total, kc int64, err error) {
	if len(res) != 3 {
		return "", 0, 0, fmt.Errorf("coord: take: script answered %d values, want 3", len(res))
	}
	var ok1, ok2, ok3 bool
	spent, ok1 = res[0].(string)
	total, ok2 = res[1].(int64)
	kc, ok3 = res[2].(int64)
	if !ok1 || !ok2 || !ok3 {
		return "", 0, 0, fmt.Errorf("coord: take: script answered %T, %T, %T", res[0], res[1], res[2])
	}
	return spent, total, kc, nil
}

// takeLocal is Take by this process's own count.
func (r *Redis) takeLocal(day, key string, limit, keyLimit int) string {
	r.countMu.Lock()
	defer r.countMu.Unlock()
	total := r.tally(day, "")
	if limit > 0 && total.count() >= limit {
		return "gateway"
	}
	if key != "" {
		k := r.tally(day, key)
		if keyLimit > 0 && k.count() >= keyLimit {
			return "key"
		}
		k.since++
	}
	total.since++
	return ""
}

// Count returns day's count for key ("" = the gateway's total): Redis's, or
// while Redis cannot answer, this process's own count from the last value it
// read. It fails only with the caller's context.
func (r *Redis) Count(ctx context.Context, day, key string) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	if r.up() {
		cctx, cancel := context.WithTimeout(ctx, r.callTimeout)
		n, err := r.client.Get(cctx, r.budgetKey(day, key)).Int()
		cancel()
		if errors.Is(err, redis.Nil) {
			n, err = 0, nil
		}
		if err == nil {
			r.setDegraded(false, nil)
			r.countMu.Lock()
			defer r.countMu.Unlock()
			t := r.tally(day, key)
			t.read = n // what is still owed to Redis stays counted
			return t.count(), nil
		}
		if ctx.Err() != nil {
			return 0, ctx.Err()
		}
		r.setDegraded(true, err)
	} else {
		r.setDegraded(true, ErrUnavailable)
	}
	r.countMu.Lock()
	defer r.countMu.Unlock()
	return r.tally(day, key).count(), nil
}

// tally returns the counter of day for key, creating it; countMu must be
// held. Only the two latest days are kept: a day's budget stops mattering
// once the next one has begun everywhere, and this bounds the memory. (A
// call for an older day still gets a counter, just not a kept one.)
func (r *Redis) tally(day, key string) *tally {
	keys := r.counts[day]
	if keys == nil {
		keys = map[string]*tally{}
		r.counts[day] = keys
		if len(r.counts) > 2 {
			days := make([]string, 0, len(r.counts))
			for d := range r.counts {
				days = append(days, d)
			}
			slices.Sort(days) // "2006-01-02" sorts by date
			for _, d := range days[:len(days)-2] {
				delete(r.counts, d)
			}
		}
	}
	t := keys[key]
	if t == nil {
		t = &tally{}
		keys[key] = t
	}
	return t
}

// setDegraded logs when counting moves to memory and back: once per change,
// never per request.
func (r *Redis) setDegraded(down bool, err error) {
	r.countMu.Lock()
	changed := r.degraded != down
	r.degraded = down
	r.countMu.Unlock()
	if !changed {
		return
	}
	if down {
		r.log.Warn("coord: Redis cannot count TIP requests; counting them in memory from the last count read", "err", err)
		return
	}
	r.log.Info("coord: Redis counts TIP requests again")
}
