package builtin

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"

	"github.com/vigil-cc/vigil/coordinator/fault"
	"github.com/vigil-cc/vigil/coordinator/store"
)

// Create adds a conversation and routes it at once, or queues it.
func (c *Controller) Create(ctx context.Context, channel, customer, actor string) (store.Conversation, error) {
	channel = strings.ToLower(strings.TrimSpace(channel))
	switch channel {
	case ChannelChat, ChannelVoice, ChannelVideo:
	default:
		return store.Conversation{}, fault.Invalidf("channel must be chat, voice or video, got %q", channel)
	}
	if customer == "" || len(customer) > 256 || strings.IndexFunc(customer, unicode.IsControl) >= 0 {
		return store.Conversation{}, fault.Invalidf("customer must be 1 to 256 characters with no control characters")
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	o := c.begin()
	o.actor = actor
	c.seq++
	cv := &store.Conversation{ID: store.NewID(), Seq: c.seq, Channel: channel, Customer: customer,
		State: store.ConversationQueued, CreatedAt: o.now}
	c.convs[cv.ID] = cv
	o.origin[cv.ID] = origin{created: true}
	o.touch(cv)
	if err := c.rebalance(ctx, o); err != nil {
		return store.Conversation{}, c.undo(ctx, err)
	}
	if cv.State == store.ConversationQueued {
		c.auditRoute(o, cv)
	}
	if err := c.commit(ctx, o); err != nil {
		return store.Conversation{}, err
	}
	return *cv, nil
}

// Accept marks conversation id accepted by its user; a voice or video
// conversation puts them on a call. Accepting an active one again changes
// nothing.
func (c *Controller) Accept(ctx context.Context, id, actor string) (store.Conversation, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	cv, err := c.open(ctx, id)
	if errors.Is(err, errEnded) {
		return store.Conversation{}, fault.Conflictf("conversation %s has ended", id)
	}
	if err != nil {
		return store.Conversation{}, err
	}
	switch cv.State {
	case store.ConversationActive:
		return *cv, nil
	case store.ConversationQueued:
		return store.Conversation{}, fault.Conflictf("conversation %s is queued: nobody to accept it yet", id)
	}
	o := c.begin()
	o.actor = actor
	if !holds(statusOf(o, cv.User)) {
		return store.Conversation{}, fault.Conflictf("conversation %s's user %s is %s; it is being rerouted", id, cv.User, statusOf(o, cv.User))
	}
	cv.State, cv.AcceptedAt = store.ConversationActive, o.now
	return c.changed(ctx, o, cv, "conversation.accepted")
}

// End ends conversation id (queued, assigned or active); a call it carried
// ends with it, and the room it frees serves the queue. Ending an ended one
// again changes nothing.
func (c *Controller) End(ctx context.Context, id, actor string) (store.Conversation, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	cv, err := c.open(ctx, id)
	if errors.Is(err, errEnded) {
		return c.st.Conversation(ctx, id)
	}
	if err != nil {
		return store.Conversation{}, err
	}
	o := c.begin()
	o.actor = actor
	cv.State, cv.EndedAt = store.ConversationEnded, o.now
	if cv.User != "" {
		c.lastEnded[cv.User] = o.now
	}
	return c.changed(ctx, o, cv, "conversation.ended")
}

// changed records that o changed cv (audited as kind) and finishes o.
func (c *Controller) changed(ctx context.Context, o *op, cv *store.Conversation, kind string) (store.Conversation, error) {
	o.touch(cv)
	o.audit(kind, cv.User, map[string]any{"conversation": cv.ID, "channel": cv.Channel})
	if err := c.finish(ctx, o); err != nil {
		return store.Conversation{}, err
	}
	return *cv, nil
}

var errEnded = errors.New("ended")

// open finds open conversation id: ErrNotFound if there is none, errEnded
// if it ended.
func (c *Controller) open(ctx context.Context, id string) (*store.Conversation, error) {
	if cv, ok := c.convs[id]; ok {
		return cv, nil
	}
	stored, err := c.st.Conversation(ctx, id)
	if err != nil {
		return nil, err
	}
	if stored.State == store.ConversationEnded {
		return nil, fmt.Errorf("%w: conversation %s ended at %s", errEnded, id, stored.EndedAt.Format(time.RFC3339))
	}
	return nil, fmt.Errorf("conversation %s is stored open but not loaded: %w", id, store.ErrNotFound)
}
