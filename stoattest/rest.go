package stoattest

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/ermine-rt/ermine/proto/bonfire"
	"github.com/ermine-rt/ermine/proto/stoatpb"
	"google.golang.org/protobuf/proto"
)

// Limits of the real server's default configuration (Revolt.toml).
const (
	maxContent     = 2000 // message_length
	maxEmbeds      = 5    // message_embeds
	maxReplies     = 5    // message_replies
	maxReactions   = 20   // message_reactions
	maxAttachments = 5    // message_attachments
	maxBody        = 1 << 20
)

// apiVersion is the Stoat API version the fake answers with (the delta crate's version at the
// server snapshot the protocol notes were written from).
const apiVersion = "0.15.1"

// response is what a handler answers; it is computed under the server lock and written after.
type response struct {
	status int
	body   []byte
}

type handler func(r *http.Request, body []byte) response

// routes registers the REST API.
func (s *Server) routes() {
	s.route("GET /{$}", false, s.rootConfig)
	s.route("GET /users/@me", true, s.fetchSelf)
	s.route("GET /users/{target}", true, s.fetchUser)
	s.route("GET /servers/{target}", true, s.fetchServer)
	s.route("GET /servers/{target}/members", true, s.fetchMembers)
	s.route("GET /servers/{target}/emojis", true, s.fetchServerEmojis)
	s.route("GET /servers/{target}/members/{member}", true, s.fetchMember)
	s.route("DELETE /servers/{target}/members/{member}", true, s.kickMember)
	s.route("GET /channels/{target}", true, s.fetchChannel)
	s.route("GET /channels/{target}/messages", true, s.queryMessages)
	s.route("POST /channels/{target}/messages", true, s.sendMessage)
	s.route("GET /channels/{target}/messages/{msg}", true, s.fetchMessage)
	s.route("PATCH /channels/{target}/messages/{msg}", true, s.editMessage)
	s.route("DELETE /channels/{target}/messages/{msg}", true, s.deleteMessage)
	s.route("PUT /channels/{target}/messages/{msg}/reactions/{emoji}", true, s.react)
	s.route("DELETE /channels/{target}/messages/{msg}/reactions/{emoji}", true, s.unreact)
	s.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusNotFound, errorBody(r, "NotFound"))
	})
}

// route registers a handler that runs under the server lock, after authentication if auth.
func (s *Server) route(pattern string, auth bool, h handler) {
	s.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
		if err != nil {
			writeJSON(w, http.StatusBadRequest, errorBody(r, "PayloadTooLarge"))
			return
		}
		s.mu.Lock()
		s.stats.Routes[pattern]++
		s.notifyLocked()
		var resp response
		if auth && !s.authorizedLocked(r) {
			// The real API's guard failure reaches Rocket's default catcher; a JSON error
			// body is friendlier and what clients key on is the status.
			resp = response{http.StatusUnauthorized, []byte(`{"type":"Unauthorized"}`)}
		} else {
			resp = h(r, body)
		}
		s.mu.Unlock()
		if resp.status == http.StatusNoContent {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		writeJSON(w, resp.status, resp.body)
	})
}

// authorizedLocked checks X-Bot-Token, or else X-Session-Token, like the real API.
func (s *Server) authorizedLocked(r *http.Request) bool {
	if v := r.Header.Values("X-Bot-Token"); len(v) > 0 {
		return s.tokenValidLocked(v[0])
	}
	return s.tokenValidLocked(r.Header.Get("X-Session-Token"))
}

func writeJSON(w http.ResponseWriter, status int, body []byte) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// errorBody is the API's Error object: its type, a free-form location and kind-specific fields
// (as key, value pairs).
func errorBody(r *http.Request, typ string, kv ...any) []byte {
	m := map[string]any{"type": typ, "location": "stoattest: " + r.Method + " " + r.URL.Path}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i].(string)] = kv[i+1]
	}
	b, _ := json.Marshal(m)
	return b
}

// apiError is an error response with the status the real API gives its type.
func apiError(r *http.Request, typ string, kv ...any) response {
	status := http.StatusBadRequest
	switch typ {
	case "NotFound", "UnknownChannel", "UnknownMessage", "UnknownUser", "UnknownServer":
		status = http.StatusNotFound
	case "CannotEditMessage", "MissingPermission", "IsNotBot":
		status = http.StatusForbidden
	case "EmptyMessage", "PayloadTooLarge":
		status = http.StatusUnprocessableEntity
	case "DuplicateNonce":
		status = http.StatusConflict
	}
	return response{status, errorBody(r, typ, kv...)}
}

func failedValidation(r *http.Request, format string, args ...any) response {
	return apiError(r, "FailedValidation", "error", fmt.Sprintf(format, args...))
}

// model encodes a model object as the API sends it.
func model(m proto.Message) []byte {
	b, err := bonfire.AppendModel(nil, bonfire.JSON, m)
	if err != nil {
		panic(fmt.Sprintf("stoattest: encoding %T: %v", m, err)) // every model type encodes
	}
	return b
}

func ok(m proto.Message) response { return response{http.StatusOK, model(m)} }

// appendList appends a JSON array of model objects.
func appendList[T proto.Message](dst []byte, xs []T) []byte {
	dst = append(dst, '[')
	for i, x := range xs {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, model(x)...)
	}
	return append(dst, ']')
}

// ---------------------------------------------------------------------------------------------
// Root

type featureConfig struct {
	Enabled bool   `json:"enabled"`
	URL     string `json:"url"`
}

// rootConfig answers GET / with the instance configuration (RevoltConfig). Clients read ws.
func (s *Server) rootConfig(r *http.Request, _ []byte) response {
	userLimits := map[string]any{
		"outgoing_friend_requests": 10, "bots": 5, "message_length": maxContent,
		"message_attachments": maxAttachments, "servers": 100, "voice_quality": 16000,
		"video": true, "video_resolution": []int{1280, 720}, "video_aspect_ratio": []float64{0.3, 2.5},
		"file_upload_size_limits": map[string]int{"attachments": 20_000_000, "avatars": 4_000_000,
			"backgrounds": 6_000_000, "icons": 2_500_000, "banners": 6_000_000, "emojis": 500_000},
	}
	cfg := map[string]any{
		"revolt": apiVersion,
		"features": map[string]any{
			"captcha":     map[string]any{"enabled": false, "key": ""},
			"email":       false,
			"invite_only": false,
			"autumn":      featureConfig{},
			"january":     featureConfig{},
			"livekit":     map[string]any{"enabled": false, "nodes": []any{}},
			// voso is the pre-LiveKit voice entry that older clients still type.
			"voso": map[string]any{"enabled": false, "url": "", "ws": ""},
			"limits": map[string]any{
				"global": map[string]any{"group_size": 100, "message_embeds": maxEmbeds,
					"message_replies": maxReplies, "message_reactions": maxReactions,
					"server_emoji": 100, "server_roles": 200, "server_channels": 200,
					"body_limit_size": 20_000_000, "restrict_server_creation": []string{}, "new_user_hours": 72},
				"new_user": userLimits,
				"default":  userLimits,
			},
			"legal_links": map[string]string{"terms_of_service": "", "privacy_policy": "", "guidelines": ""},
		},
		"ws":    s.EventsURL(),
		"app":   s.URL,
		"vapid": "",
		"build": map[string]string{
			"commit_sha": "stoattest", "commit_timestamp": "", "semver": apiVersion + "-stoattest",
			"origin_url": "https://github.com/ermine-rt/ermine", "timestamp": "",
		},
	}
	b, err := json.Marshal(cfg)
	if err != nil {
		return apiError(r, "InternalError")
	}
	return response{http.StatusOK, b}
}

// ---------------------------------------------------------------------------------------------
// Users, servers, members, channels

func (s *Server) fetchSelf(r *http.Request, _ []byte) response {
	return ok(selfView(s.world.Self))
}

func (s *Server) fetchUser(r *http.Request, _ []byte) response {
	u := s.userViewLocked(r.PathValue("target"))
	if u == nil {
		return apiError(r, "NotFound")
	}
	return ok(u)
}

func (s *Server) fetchServer(r *http.Request, _ []byte) response {
	sv := s.ix.servers[r.PathValue("target")]
	if sv == nil {
		return apiError(r, "NotFound")
	}
	return ok(sv)
}

// fetchMembers answers {members, users}: every member of the server and their users.
func (s *Server) fetchMembers(r *http.Request, _ []byte) response {
	id := r.PathValue("target")
	if s.ix.servers[id] == nil {
		return apiError(r, "NotFound")
	}
	excludeOffline := r.URL.Query().Get("exclude_offline") == "true"
	var members []*stoatpb.Member
	var users []*stoatpb.User
	for _, m := range s.world.Members {
		if m.GetId().GetServer() != id {
			continue
		}
		u := s.userViewLocked(m.Id.User)
		if u == nil || excludeOffline && !u.GetOnline() {
			continue
		}
		members = append(members, m)
		users = append(users, u)
	}
	b := append([]byte(`{"members":`), appendList(nil, members)...)
	b = append(append(b, `,"users":`...), appendList(nil, users)...)
	return response{http.StatusOK, append(b, '}')}
}

// fetchServerEmojis answers the custom emojis of a server.
func (s *Server) fetchServerEmojis(r *http.Request, _ []byte) response {
	id := r.PathValue("target")
	if s.ix.servers[id] == nil {
		return apiError(r, "NotFound")
	}
	var emojis []*stoatpb.Emoji
	for _, e := range s.world.Emojis {
		if p := e.GetParent(); p.GetType() == stoatpb.EmojiParentType_EMOJI_PARENT_TYPE_SERVER && p.GetId() == id {
			emojis = append(emojis, e)
		}
	}
	return response{http.StatusOK, appendList(nil, emojis)}
}

// fetchMember answers the member, or {member, roles} with ?roles=true.
func (s *Server) fetchMember(r *http.Request, _ []byte) response {
	sv := s.ix.servers[r.PathValue("target")]
	if sv == nil {
		return apiError(r, "NotFound")
	}
	m := s.ix.members[memberKey{sv.Id, r.PathValue("member")}]
	if m == nil {
		return apiError(r, "NotFound")
	}
	if r.URL.Query().Get("roles") != "true" {
		return ok(m)
	}
	b := append([]byte(`{"member":`), model(m)...)
	b = append(b, `,"roles":{`...)
	n := 0
	for _, role := range sv.GetRoles() {
		if !slices.Contains(m.GetRoles(), role.GetId()) {
			continue
		}
		if n > 0 {
			b = append(b, ',')
		}
		n++
		k, _ := json.Marshal(role.GetId())
		b = append(append(append(b, k...), ':'), model(role)...)
	}
	return response{http.StatusOK, append(b, "}}"...)}
}

// kickMember is DELETE /servers/{target}/members/{member}: it removes the member and emits
// ServerMemberLeave{reason: Kick}, then the user_kicked system message if the server has a
// channel for it. (The real API also checks KickMembers and role ranks; this one does not.)
func (s *Server) kickMember(r *http.Request, _ []byte) response {
	sv := s.ix.servers[r.PathValue("target")]
	if sv == nil {
		return apiError(r, "NotFound")
	}
	user := r.PathValue("member")
	switch user {
	case s.world.Self.GetId():
		return apiError(r, "CannotRemoveYourself")
	case sv.Owner:
		return apiError(r, "InvalidOperation")
	}
	key := memberKey{sv.Id, user}
	if s.ix.members[key] == nil {
		return apiError(r, "NotFound")
	}
	s.world.Members = slices.DeleteFunc(s.world.Members, func(m *stoatpb.Member) bool {
		return m.GetId().GetServer() == sv.Id && m.GetId().GetUser() == user
	})
	delete(s.ix.members, key)
	events := []stoatpb.Event{&stoatpb.ServerMemberRemoveEvent{ServerId: sv.Id, UserId: user,
		Reason: stoatpb.MemberRemovalIntention_MEMBER_REMOVAL_INTENTION_KICK}}
	if ch := s.ix.channels[sv.GetSystemMessages().GetUserKicked()]; ch != nil {
		msg := &stoatpb.Message{Id: s.ids.New(), Channel: ch.Id, Author: systemAuthor,
			System: &stoatpb.SystemMessage{Type: stoatpb.SystemMessageType_SYSTEM_MESSAGE_TYPE_USER_KICKED, Id: user}}
		s.storeMessageLocked(ch, msg)
		events = append(events, &stoatpb.MessageCreateEvent{Message: cloneMsg(msg)})
	}
	if err := s.publishLocked(events, false); err != nil {
		return apiError(r, "InternalError")
	}
	return response{status: http.StatusNoContent}
}

// systemAuthor is the author of system messages.
const systemAuthor = "00000000000000000000000000"

func (s *Server) fetchChannel(r *http.Request, _ []byte) response {
	ch := s.ix.channels[r.PathValue("target")]
	if ch == nil {
		return apiError(r, "NotFound")
	}
	return ok(ch)
}

// ---------------------------------------------------------------------------------------------
// Messages

// messageInChannelLocked finds a message of a channel (NotFound otherwise).
func (s *Server) messageInChannelLocked(channel, id string) *stoatpb.Message {
	m := s.ix.messages[id]
	if m == nil || m.GetChannel() != channel {
		return nil
	}
	return m
}

// storeMessageLocked adds a message to the history (kept in id order, at most s.history
// messages when set) and makes it the channel's last message if it is the newest.
func (s *Server) storeMessageLocked(ch *stoatpb.Channel, m *stoatpb.Message) {
	hist := s.world.Messages[ch.Id]
	i, _ := slices.BinarySearchFunc(hist, m.Id, func(x *stoatpb.Message, id string) int { return strings.Compare(x.Id, id) })
	hist = slices.Insert(hist, i, m)
	s.ix.messages[m.Id] = m
	if s.history > 0 && len(hist) > s.history {
		// Forget the oldest. Reslicing keeps the backing array's length bounded: append copies
		// only the kept tail when it grows the array, and the dropped slots are cleared so that
		// they hold no message meanwhile.
		drop := len(hist) - s.history
		for _, old := range hist[:drop] {
			delete(s.ix.messages, old.Id)
		}
		clear(hist[:drop])
		hist = hist[drop:]
	}
	s.world.Messages[ch.Id] = hist
	if m.Id > ch.LastMessageId {
		ch.LastMessageId = m.Id
	}
}

// withAuthorLocked returns a copy of m with its author's user and (server channels) member
// embedded, as Message events carry them.
func (s *Server) withAuthorLocked(m *stoatpb.Message, ch *stoatpb.Channel) *stoatpb.Message {
	c := cloneMsg(m)
	if m.GetWebhook() != nil || m.GetSystem() != nil {
		return c
	}
	if u := s.userViewLocked(m.Author); u != nil {
		c.User = cloneMsg(u)
	}
	if sv := ch.GetServer(); sv != "" {
		if mem := s.ix.members[memberKey{sv, m.Author}]; mem != nil {
			c.Member = cloneMsg(mem)
		}
	}
	return c
}

type sendableEmbed struct {
	IconURL     *string `json:"icon_url"`
	URL         *string `json:"url"`
	Title       *string `json:"title"`
	Description *string `json:"description"`
	Media       *string `json:"media"`
	Colour      *string `json:"colour"`
}

// validate applies the length limits of SendableEmbed.
func (e sendableEmbed) validate() error {
	for _, f := range []struct {
		name string
		v    *string
		max  int
	}{{"icon_url", e.IconURL, 256}, {"url", e.URL, 256}, {"title", e.Title, 100}, {"description", e.Description, 2000}, {"colour", e.Colour, 128}} {
		if f.v != nil {
			if n := utf8.RuneCountInString(*f.v); n < 1 || n > f.max {
				return fmt.Errorf("embed %s: length %d not in 1..%d", f.name, n, f.max)
			}
		}
	}
	return nil
}

// embed turns a sendable embed into the Text embed the server stores (media is ignored: there
// are no uploads here).
func (e sendableEmbed) embed() *stoatpb.Embed {
	str := func(p *string) string {
		if p == nil {
			return ""
		}
		return *p
	}
	return &stoatpb.Embed{Type: stoatpb.EmbedType_EMBED_TYPE_TEXT, IconUrl: str(e.IconURL), Url: str(e.URL),
		Title: str(e.Title), Description: str(e.Description), Colour: str(e.Colour)}
}

// validateSum is the real server's cap on content plus embed descriptions, in bytes.
func validateSum(content *string, embeds []sendableEmbed) bool {
	n := 0
	if content != nil {
		n += len(*content)
	}
	for _, e := range embeds {
		if e.Description != nil {
			n += len(*e.Description)
		}
	}
	return n <= maxContent
}

type sendRequest struct {
	Content     *string         `json:"content"`
	Nonce       *string         `json:"nonce"`
	Attachments []string        `json:"attachments"`
	Replies     []replyIntent   `json:"replies"`
	Embeds      []sendableEmbed `json:"embeds"`
	Masquerade  *struct {
		Name   *string `json:"name"`
		Avatar *string `json:"avatar"`
		Colour *string `json:"colour"`
	} `json:"masquerade"`
	Interactions *struct {
		Reactions         []string `json:"reactions"`
		RestrictReactions bool     `json:"restrict_reactions"`
	} `json:"interactions"`
	Flags *uint32 `json:"flags"`
}

type replyIntent struct {
	ID              *string `json:"id"`
	Mention         *bool   `json:"mention"`
	FailIfNotExists *bool   `json:"fail_if_not_exists"`
}

var mentionRE = regexp.MustCompile(`<@([0-9A-HJKMNP-TV-Z]{26})>`)

// sendMessage is POST /channels/{target}/messages: it stores the message, emits Message and
// answers the message with its author embedded.
func (s *Server) sendMessage(r *http.Request, body []byte) response {
	// The Idempotency-Key guard runs before the body is parsed: at most 64 bytes, each key
	// used once (an LRU of 1000 keys), and consumed even if the request fails later.
	key := r.Header.Get("Idempotency-Key")
	if key != "" {
		if len(key) > 64 {
			return failedValidation(r, "idempotency key too long")
		}
		if s.idempotency.seen(key) {
			return apiError(r, "DuplicateNonce")
		}
		s.idempotency.add(key)
	}
	var req sendRequest
	if err := json.Unmarshal(body, &req); err != nil {
		return failedValidation(r, "invalid body: %v", err)
	}
	if req.Content != nil && utf8.RuneCountInString(*req.Content) > maxContent {
		return failedValidation(r, "content: longer than %d", maxContent)
	}
	if req.Nonce != nil && (len(*req.Nonce) < 1 || len(*req.Nonce) > 64) {
		return failedValidation(r, "nonce: length not in 1..64")
	}
	for _, e := range req.Embeds {
		if err := e.validate(); err != nil {
			return failedValidation(r, "%v", err)
		}
	}
	if m := req.Masquerade; m != nil {
		for _, f := range []struct {
			v   *string
			max int
		}{{m.Name, 32}, {m.Avatar, 256}, {m.Colour, 128}} {
			if f.v != nil && (utf8.RuneCountInString(*f.v) < 1 || utf8.RuneCountInString(*f.v) > f.max) {
				return failedValidation(r, "masquerade: field length not in 1..%d", f.max)
			}
		}
	}
	for _, rp := range req.Replies {
		if rp.ID == nil || rp.Mention == nil {
			return failedValidation(r, "replies: id and mention are required")
		}
	}

	ch := s.ix.channels[r.PathValue("target")]
	if ch == nil {
		return apiError(r, "NotFound")
	}
	if !validateSum(req.Content, req.Embeds) {
		return apiError(r, "PayloadTooLarge")
	}
	if req.Nonce != nil {
		if s.idempotency.seen(*req.Nonce) {
			return apiError(r, "InvalidOperation") // the deprecated nonce's duplicate
		}
		s.idempotency.add(*req.Nonce)
		key = *req.Nonce
	}
	if (req.Content == nil || *req.Content == "") && len(req.Attachments) == 0 && len(req.Embeds) == 0 {
		return apiError(r, "EmptyMessage")
	}
	self := s.world.Self
	var flags uint32
	if req.Flags != nil {
		if *req.Flags > 7 {
			return apiError(r, "InvalidProperty")
		}
		// MessageFlags values are bit indexes: 1 → 2 (suppress notifications), 2 → 4
		// (@everyone); @online (bit 3) cannot be set.
		flags = *req.Flags & 0b110
		if flags&4 != 0 && self.GetBot() == nil {
			return apiError(r, "IsNotBot")
		}
	}
	if in := req.Interactions; in != nil && in.RestrictReactions && len(in.Reactions) == 0 {
		return apiError(r, "InvalidProperty")
	}

	var mentions []string
	if req.Content != nil {
		for _, m := range mentionRE.FindAllStringSubmatch(*req.Content, -1) {
			mentions = appendUnique(mentions, m[1])
		}
	}
	if len(req.Replies) > maxReplies {
		return apiError(r, "TooManyReplies", "max", maxReplies)
	}
	var replies []string
	for _, rp := range req.Replies {
		target := s.ix.messages[*rp.ID]
		if target == nil {
			if rp.FailIfNotExists == nil || *rp.FailIfNotExists {
				return apiError(r, "NotFound")
			}
			continue
		}
		if *rp.Mention {
			mentions = appendUnique(mentions, target.Author)
		}
		replies = appendUnique(replies, target.Id)
	}
	mentions = slices.DeleteFunc(mentions, func(id string) bool { return !s.inChannelLocked(ch, id) })
	if len(req.Attachments) > maxAttachments {
		return apiError(r, "TooManyAttachments", "max", maxAttachments)
	}
	if len(req.Embeds) > maxEmbeds {
		return apiError(r, "TooManyEmbeds", "max", maxEmbeds)
	}

	msg := &stoatpb.Message{
		Id:       s.ids.New(),
		Channel:  ch.Id,
		Author:   self.GetId(),
		Mentions: mentions,
		Replies:  replies,
		Flags:    flags,
	}
	if req.Content != nil {
		msg.Content = *req.Content
	}
	for _, e := range req.Embeds {
		msg.Embeds = append(msg.Embeds, e.embed())
	}
	if m := req.Masquerade; m != nil {
		msg.Masquerade = &stoatpb.Masquerade{}
		if m.Name != nil {
			msg.Masquerade.Name = *m.Name
		}
		if m.Avatar != nil {
			msg.Masquerade.Avatar = *m.Avatar
		}
		if m.Colour != nil {
			msg.Masquerade.Colour = *m.Colour
		}
	}
	if in := req.Interactions; in != nil && (len(in.Reactions) > 0 || in.RestrictReactions) {
		msg.Interactions = &stoatpb.Interactions{Reactions: in.Reactions, RestrictReactions: in.RestrictReactions}
	}
	if key == "" {
		key = s.ids.New() // the real server invents a key when none is given
	}
	msg.Nonce = key

	s.storeMessageLocked(ch, msg)
	sent := s.withAuthorLocked(msg, ch)
	if err := s.publishLocked([]stoatpb.Event{&stoatpb.MessageCreateEvent{Message: sent}}, false); err != nil {
		return apiError(r, "InternalError")
	}
	return ok(sent)
}

func appendUnique(xs []string, x string) []string {
	if slices.Contains(xs, x) {
		return xs
	}
	return append(xs, x)
}

// inChannelLocked reports whether a user can be mentioned in a channel: a member of its
// server, or a recipient of the DM or group.
func (s *Server) inChannelLocked(ch *stoatpb.Channel, user string) bool {
	switch ch.GetChannelType() {
	case stoatpb.ChannelType_CHANNEL_TYPE_DIRECT_MESSAGE, stoatpb.ChannelType_CHANNEL_TYPE_GROUP:
		return slices.Contains(ch.GetRecipients(), user)
	case stoatpb.ChannelType_CHANNEL_TYPE_SAVED_MESSAGES:
		return false
	}
	_, ok := s.ix.members[memberKey{ch.GetServer(), user}]
	return ok
}

// fetchMessage is GET /channels/{target}/messages/{msg}.
func (s *Server) fetchMessage(r *http.Request, _ []byte) response {
	ch := s.ix.channels[r.PathValue("target")]
	if ch == nil {
		return apiError(r, "NotFound")
	}
	m := s.messageInChannelLocked(ch.Id, r.PathValue("msg"))
	if m == nil {
		return apiError(r, "NotFound")
	}
	return ok(m)
}

// editMessage is PATCH /channels/{target}/messages/{msg}: new content and/or embeds; emits
// MessageUpdate{content?, edited, embeds}.
func (s *Server) editMessage(r *http.Request, body []byte) response {
	var req struct {
		Content *string          `json:"content"`
		Embeds  *[]sendableEmbed `json:"embeds"`
	}
	if err := json.Unmarshal(body, &req); err != nil {
		return failedValidation(r, "invalid body: %v", err)
	}
	if req.Content != nil {
		if n := utf8.RuneCountInString(*req.Content); n < 1 || n > maxContent {
			return failedValidation(r, "content: length %d not in 1..%d", n, maxContent)
		}
	}
	var embeds []sendableEmbed
	if req.Embeds != nil {
		embeds = *req.Embeds
		if len(embeds) > 10 {
			return failedValidation(r, "embeds: more than 10")
		}
		for _, e := range embeds {
			if err := e.validate(); err != nil {
				return failedValidation(r, "%v", err)
			}
		}
	}
	if !validateSum(req.Content, embeds) {
		return apiError(r, "PayloadTooLarge")
	}
	ch := s.ix.channels[r.PathValue("target")]
	if ch == nil {
		return apiError(r, "NotFound")
	}
	m := s.messageInChannelLocked(ch.Id, r.PathValue("msg"))
	if m == nil {
		return apiError(r, "NotFound")
	}
	if m.Author != s.world.Self.GetId() {
		return apiError(r, "CannotEditMessage")
	}
	edited := s.now().UnixMilli()
	partial := &stoatpb.PartialMessage{Edited: &edited, Embeds: &stoatpb.EmbedList{}}
	if req.Content != nil {
		partial.Content = proto.String(*req.Content)
		m.Content = *req.Content
	}
	if req.Embeds != nil {
		for _, e := range embeds {
			partial.Embeds.Items = append(partial.Embeds.Items, e.embed())
		}
	} else { // link embeds are dropped on edit, text embeds kept
		for _, e := range m.Embeds {
			if e.GetType() == stoatpb.EmbedType_EMBED_TYPE_TEXT {
				partial.Embeds.Items = append(partial.Embeds.Items, e)
			}
		}
	}
	m.Edited = edited
	m.Embeds = cloneAll(partial.Embeds.Items)
	ev := &stoatpb.MessageUpdateEvent{MessageId: m.Id, ChannelId: ch.Id, Message: partial}
	if err := s.publishLocked([]stoatpb.Event{ev}, false); err != nil {
		return apiError(r, "InternalError")
	}
	return ok(m)
}

// deleteMessage is DELETE /channels/{target}/messages/{msg}: emits ChannelUpdate{last_message_id}
// first if the channel's newest message went and an older one exists, then MessageDelete.
func (s *Server) deleteMessage(r *http.Request, _ []byte) response {
	chID := r.PathValue("target")
	m := s.messageInChannelLocked(chID, r.PathValue("msg"))
	if m == nil {
		return apiError(r, "NotFound")
	}
	hist := s.world.Messages[chID]
	s.world.Messages[chID] = slices.DeleteFunc(hist, func(x *stoatpb.Message) bool { return x.Id == m.Id })
	delete(s.ix.messages, m.Id)
	var events []stoatpb.Event
	if ch := s.ix.channels[chID]; ch != nil && ch.LastMessageId == m.Id {
		ch.LastMessageId = ""
		if hist := s.world.Messages[chID]; len(hist) > 0 {
			ch.LastMessageId = hist[len(hist)-1].Id
			events = append(events, &stoatpb.ChannelUpdateEvent{ChannelId: chID,
				Channel: &stoatpb.PartialChannel{LastMessageId: proto.String(ch.LastMessageId)}})
		}
	}
	events = append(events, &stoatpb.MessageDeleteEvent{MessageId: m.Id, ChannelId: chID})
	if err := s.publishLocked(events, false); err != nil {
		return apiError(r, "InternalError")
	}
	return response{status: http.StatusNoContent}
}

// reactionTarget resolves the channel and message of a reaction route.
func (s *Server) reactionTarget(r *http.Request) (*stoatpb.Message, *response) {
	ch := s.ix.channels[r.PathValue("target")]
	if ch == nil {
		resp := apiError(r, "NotFound")
		return nil, &resp
	}
	m := s.messageInChannelLocked(ch.Id, r.PathValue("msg"))
	if m == nil {
		resp := apiError(r, "NotFound")
		return nil, &resp
	}
	return m, nil
}

// react is PUT …/reactions/{emoji}: emits MessageReact (even if Self had already reacted).
func (s *Server) react(r *http.Request, _ []byte) response {
	m, errResp := s.reactionTarget(r)
	if errResp != nil {
		return *errResp
	}
	emoji := r.PathValue("emoji")
	i := slices.IndexFunc(m.Reactions, func(x *stoatpb.Reaction) bool { return x.Emoji == emoji })
	if i < 0 && len(m.Reactions) >= maxReactions {
		return apiError(r, "InvalidOperation")
	}
	if in := m.GetInteractions(); in.GetRestrictReactions() && !slices.Contains(in.GetReactions(), emoji) {
		return apiError(r, "InvalidOperation")
	}
	if isULID(emoji) && s.ix.emojis[strings.ToUpper(emoji)] == nil && s.ix.emojis[emoji] == nil {
		return apiError(r, "NotFound") // a custom emoji must exist; any other string is taken as Unicode
	}
	if emoji == "" {
		return apiError(r, "InvalidOperation")
	}
	self := s.world.Self.GetId()
	ev := &stoatpb.MessageReactEvent{MessageId: m.Id, ChannelId: m.Channel, UserId: self, Emoji: emoji}
	if err := s.publishLocked([]stoatpb.Event{ev}, false); err != nil {
		return apiError(r, "InternalError")
	}
	if i < 0 {
		m.Reactions = append(m.Reactions, &stoatpb.Reaction{Emoji: emoji})
		i = len(m.Reactions) - 1
	}
	m.Reactions[i].Users = appendUnique(m.Reactions[i].Users, self)
	return response{status: http.StatusNoContent}
}

// unreact is DELETE …/reactions/{emoji}: Self's reaction, ?user_id='s, or with
// ?remove_all=true every reaction with the emoji (MessageUnreact / MessageRemoveReaction).
func (s *Server) unreact(r *http.Request, _ []byte) response {
	q := r.URL.Query()
	removeAll := false
	if v := q.Get("remove_all"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return failedValidation(r, "remove_all: %v", err)
		}
		removeAll = b
	}
	m, errResp := s.reactionTarget(r)
	if errResp != nil {
		return *errResp
	}
	emoji := r.PathValue("emoji")
	i := slices.IndexFunc(m.Reactions, func(x *stoatpb.Reaction) bool { return x.Emoji == emoji })
	if removeAll {
		ev := &stoatpb.MessageClearReactionEvent{MessageId: m.Id, ChannelId: m.Channel, Emoji: emoji}
		if err := s.publishLocked([]stoatpb.Event{ev}, false); err != nil {
			return apiError(r, "InternalError")
		}
		if i >= 0 {
			m.Reactions = slices.Delete(m.Reactions, i, i+1)
		}
		return response{status: http.StatusNoContent}
	}
	user := q.Get("user_id")
	if user == "" {
		user = s.world.Self.GetId()
	}
	if i < 0 || !slices.Contains(m.Reactions[i].Users, user) {
		return apiError(r, "NotFound")
	}
	ev := &stoatpb.MessageUnreactEvent{MessageId: m.Id, ChannelId: m.Channel, UserId: user, Emoji: emoji}
	if err := s.publishLocked([]stoatpb.Event{ev}, false); err != nil {
		return apiError(r, "InternalError")
	}
	m.Reactions[i].Users = slices.DeleteFunc(m.Reactions[i].Users, func(u string) bool { return u == user })
	if len(m.Reactions[i].Users) == 0 {
		m.Reactions = slices.Delete(m.Reactions, i, i+1)
	}
	return response{status: http.StatusNoContent}
}

// queryMessages is GET /channels/{target}/messages with limit, before, after, sort, nearby and
// include_users, answered like the real server's database query.
func (s *Server) queryMessages(r *http.Request, _ []byte) response {
	q := r.URL.Query()
	limit := 50
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 100 {
			return failedValidation(r, "limit: %q not in 1..100", v)
		}
		limit = n
	}
	for _, p := range []string{"before", "after", "nearby"} {
		if v, present := q[p]; present && len(v[0]) != 26 {
			return failedValidation(r, "%s: length %d, want 26", p, len(v[0]))
		}
	}
	latest := true
	switch v := q.Get("sort"); v {
	case "", "Latest":
	case "Oldest":
		latest = false
	case "Relevance":
		return apiError(r, "InvalidOperation") // only searches sort by relevance
	default:
		return failedValidation(r, "sort: %q is not Latest, Oldest or Relevance", v)
	}
	includeUsers := false
	if v := q.Get("include_users"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return failedValidation(r, "include_users: %v", err)
		}
		includeUsers = b
	}
	ch := s.ix.channels[r.PathValue("target")]
	if ch == nil {
		return apiError(r, "NotFound")
	}
	hist := s.world.Messages[ch.Id] // ascending ids
	// pos is the index of the first message with an id ≥ id.
	pos := func(id string) int {
		return sort.Search(len(hist), func(i int) bool { return hist[i].Id >= id })
	}
	var out []*stoatpb.Message
	if nearby := q.Get("nearby"); nearby != "" {
		// Newer: id ≥ nearby, ascending, limit/2+1; then older: id < nearby, descending,
		// limit/2+1 — concatenated in that order, as the real query does.
		p := pos(nearby)
		half := limit/2 + 1
		out = append(out, hist[p:min(len(hist), p+half)]...)
		for i := p - 1; i >= 0 && i >= p-half; i-- {
			out = append(out, hist[i])
		}
	} else {
		lo, hi := 0, len(hist) // candidate window [lo, hi)
		if after := q.Get("after"); after != "" {
			lo = pos(after)
			if lo < len(hist) && hist[lo].Id == after {
				lo++
			}
		}
		if before := q.Get("before"); before != "" {
			hi = pos(before)
		}
		if lo < hi {
			if latest {
				for i := hi - 1; i >= lo && len(out) < limit; i-- {
					out = append(out, hist[i])
				}
			} else {
				out = append(out, hist[lo:min(hi, lo+limit)]...)
			}
		}
	}
	if !includeUsers {
		return response{http.StatusOK, appendList(nil, out)}
	}
	var ids []string
	for _, m := range out {
		ids = appendUnique(ids, m.Author)
		if sys := m.GetSystem(); sys != nil {
			switch sys.GetType() {
			case stoatpb.SystemMessageType_SYSTEM_MESSAGE_TYPE_MESSAGE_PINNED, stoatpb.SystemMessageType_SYSTEM_MESSAGE_TYPE_MESSAGE_UNPINNED:
				ids = appendUnique(ids, sys.By)
			default:
				for _, id := range []string{sys.Id, sys.By, sys.From, sys.To} {
					if id != "" {
						ids = appendUnique(ids, id)
					}
				}
			}
		}
	}
	var users []*stoatpb.User
	var members []*stoatpb.Member
	for _, id := range ids {
		if u := s.userViewLocked(id); u != nil {
			users = append(users, u)
		}
		if sv := ch.GetServer(); sv != "" {
			if mem := s.ix.members[memberKey{sv, id}]; mem != nil {
				members = append(members, mem)
			}
		}
	}
	b := append([]byte(`{"messages":`), appendList(nil, out)...)
	b = append(append(b, `,"users":`...), appendList(nil, users)...)
	if ch.GetServer() != "" {
		b = append(append(b, `,"members":`...), appendList(nil, members)...)
	}
	return response{http.StatusOK, append(b, '}')}
}
