// Package cacheactors holds the owners of ermine's cache: server actors, channel actors, the
// user-directory partitions and the shard (connection) owner, each the single writer of its slice
// of the cache, publishing immutable snapshots to a Store that any goroutine can read.
//
// # Routing: event → primary owner
//
// Every event has exactly one primary owner, which runs the bot's handlers for it (before_dispatch
// → handlers → process, see package dispatch). It is declared with everything else the cache does
// with the event in one place, the event's spec (events_*.go, in the table of spec.go), from which
// Router.Route, the owners' hooks and this package's tables come (go generate rewrites the tables;
// a test fails when they are stale):
//
//	event                        owner    routing key
//	ReadyEvent                   shard    the connection
//	AuthenticatedEvent           shard    the connection
//	LogoutEvent                  shard    the connection
//	PongEvent                    shard    the connection
//	ErrorEvent                   shard    the connection
//	BeesEvent                    shard    the connection
//	UnknownEvent                 shard    the connection
//	SessionCreateEvent           shard    the connection
//	SessionDeleteEvent           shard    the connection
//	SessionDeleteAllEvent        shard    the connection
//	ReportCreateEvent            shard    the connection
//	UserSettingsUpdateEvent      shard    the connection
//	UserMoveVoiceChannelEvent    shard    the connection
//	UserSlowmodesEvent           shard    the connection
//	ReadyDiffEvent               shard    the connection
//	PrivateChannelCreateEvent    channel  id
//	ServerChannelCreateEvent     channel  id
//	ChannelUpdateEvent           channel  id
//	ChannelDeleteEvent           channel  id
//	GroupRecipientAddEvent       channel  id
//	GroupRecipientRemoveEvent    channel  id
//	ChannelStartTypingEvent      channel  id
//	ChannelStopTypingEvent       channel  id
//	MessageStartEditingEvent     channel  channel_id
//	MessageStopEditingEvent      channel  channel_id
//	MessageAckEvent              channel  id
//	MessageCreateEvent           channel  channel
//	MessageUpdateEvent           channel  channel_id
//	MessageAppendEvent           channel  channel_id
//	MessageDeleteEvent           channel  channel_id
//	MessageDeleteBulkEvent       channel  channel_id
//	MessageReactEvent            channel  channel_id
//	MessageUnreactEvent          channel  channel_id
//	MessageClearReactionEvent    channel  channel_id
//	WebhookCreateEvent           channel  channel_id (remembered per webhook)
//	WebhookUpdateEvent           channel  the webhook's channel (index)
//	WebhookDeleteEvent           channel  the webhook's channel (index)
//	VoiceChannelJoinEvent        channel  id
//	VoiceChannelLeaveEvent       channel  id
//	VoiceChannelMoveEvent        channel  to (from gets a patch)
//	UserVoiceStateUpdateEvent    channel  channel_id
//	VoiceCallUpdateEvent         channel  channel_id
//	ServerCreateEvent            server   id
//	ServerUpdateEvent            server   id
//	ServerDeleteEvent            server   id
//	ServerEmojiCreateEvent       server   parent.id (remembered per emoji)
//	ServerEmojiUpdateEvent       server   the emoji's server (index)
//	ServerEmojiDeleteEvent       server   the emoji's server (index)
//	ServerMemberJoinEvent        server   id
//	ServerMemberUpdateEvent      server   id.server
//	ServerMemberRemoveEvent      server   id
//	RawServerRoleUpdateEvent     server   id
//	ServerRoleDeleteEvent        server   id
//	ServerRoleRanksUpdateEvent   server   id
//	UserUpdateEvent              userdir  id
//	UserRelationshipUpdateEvent  userdir  user._id (not id, which is you)
//	UserPlatformWipeEvent        userdir  user_id
//
// An event whose owner cannot be known (an emoji or webhook never seen) goes to the shard owner:
// its handlers still run, and there is nothing cached to change.
//
// # Seeds and cascades, in wire order
//
// An event that changes more than its primary owner's state reaches the other owners as internal
// patches, which run no handlers (no second run of anything). The router sends them from the
// connection's reader, just before the event itself, so each lands in the other owner's mailbox
// at the event's place in the wire order: no later event of that owner can overtake it, and it
// cannot overtake an earlier one. There are three kinds:
//
//   - Seeds: ReadyEvent and ServerCreateEvent carry state for many owners. The seeds are applied as soon as
//     they arrive, before the event's handlers run: a channel actor always knows its channel
//     before it sees that channel's next event, and the handlers of a Ready (which run once all
//     of its seeds and drops are acked, see below) see a full cache, where stoat.py's cache is
//     still empty. A handler cannot cancel a seed.
//   - Gated cascades: the effects that depend on the event happening (ServerDeleteEvent and
//     leaving a server → its channels are dropped; ChannelDeleteEvent → its server's channel
//     list; ServerRoleDeleteEvent → the channels' role_permissions; VoiceChannelMoveEvent → the
//     `from` channel; UserRelationshipUpdateEvent → your relations list; UserPlatformWipeEvent →
//     every server, every channel and your relations; a webhook moving → its new channel). The patch is gated: its owner applies
//     it only once the primary owner has told it the event's outcome, processed or cancelled
//     (see below), so the handlers still see every owner as it was before the event (a
//     ServerDeleteEvent handler can read the server's channels), and a cancelled event has no effect
//     anywhere. A gate only ever waits for an event earlier in wire order, so owners cannot wait
//     for each other in a cycle. The targets come from the router's own indexes, kept in wire
//     order (server → channels, the channels and servers known), never from the Store, which may
//     not have caught up with the wire yet.
//   - Plain patches, for facts that hold whatever the handlers decide and would make busy owners
//     wait for nothing if gated: the author (user) and member snapshots a MessageCreateEvent
//     carries, a new server channel joining its server's list.
//
// # The owner protocol
//
// Every message an owner gets or sends is a message of package ownerpb, listed by its
// OwnerMessage: the Dispatch of an event (its event in a oneof of every event type), the seeds,
// the patches, the messages of gates and barriers below, and the acknowledgement an owner sends
// the connection's reader. In one process they travel as pointers, never encoded and never
// changed once delivered; a patch that is one model object is that object (an upsert_user is
// the *stoatpb.User the Message carried), so the hot path allocates no wrapper for it. An owner
// that gets a message it does not handle drops it, logs it and counts it (GateStats.Unknown).
// Passivation hands the owner's state to its next activation as a snapshot of its kind
// (ownerpb.ChannelSnapshot and the others, passivate.go), from which NewOwner rebuilds it.
//
// # Sequence numbers and acknowledgements
//
// The connection's reader numbers the events it sends each owner (actors.Budget.Charge):
// Dispatch.seq is 1, 2, 3… within a Dispatch.stream, consecutive per destination owner, and a
// new stream (a larger number) starts only once the owner has acknowledged every event of the
// previous one (the budget forgets an idle owner). The owner applies each sequence number once
// and in order (sequence.go): a repeat (below the next expected) is dropped and acknowledged
// again; an event ahead of the next expected waits until the gap is filled — it is never applied
// out of order — and the owner counts as holding meanwhile (not idle, see below). An owner that
// knows no stream yet (a new one, or one passivated without its state) starts with the first
// event it gets. Seeds and patches are not numbered: they come from the same reader, in order.
//
// The owner acknowledges each event processed (or discarded at shutdown) to Deps.Acker, after the
// event's gate resolutions and local patches, even if the owner panicked: Processed{owner,
// stream, seq} means every event of the stream up to seq is done with (cumulative). In one
// process it is a call of the in-flight budget, which releases the events' shares; across
// processes it would be a message, and the events not yet acknowledged are what a reader would
// re-send to a new owner. Locally nothing is ever lost, repeated or reordered.
//
// # Waiting without blocking: gates, barriers, holding
//
// No owner goroutine ever blocks on another owner; what one waits for from another arrives as a
// message (gates.go), as it would from another node:
//
//   - Gates. The router numbers each event that has gated cascades (a gate id: the router's
//     random id and a sequence number in wire order), sends the gated patches, and records on the
//     event's Dispatch which owners got one. The primary owner, once the event is processed or
//     cancelled — or its owner panicked, or the runtime discarded it at shutdown — sends each of
//     them a resolution (gate id, apply), before it acknowledges the event (so Drain never sees
//     a quiet runtime with a resolution in flight), and keeps the outcome of its last 32 gates.
//   - Ready barriers. Each seed and drop of a Ready carries the Ready's barrier (its id, the shard
//     owner's key and how many seeds and drops it has). The owner that applies one (or discards
//     it, or panics applying it) acks it to the shard owner, which counts acks per barrier — they
//     may arrive before the Ready — and runs the Ready only when the count is reached. An ack is
//     one pointer-shaped message and one map increment: no allocation.
//   - Holding. An owner whose next message must wait (a gated patch whose outcome it does not know
//     yet, a Ready not fully acked) holds it, and every message after it, in arrival order, so its
//     wire order is kept; it handles the protocol's own messages (resolutions, acks, questions)
//     at once. When the wait is over it replays what it holds, which may stop at the next wait.
//     A resolution that arrives before its patch is kept until the patch comes; a late repeat of
//     one (after a re-drive) is dropped. An owner that holds messages is not passivated, and when
//     the runtime stops, what it holds is discarded with the rest (actors.Holder).
//   - Gaps (gap.go). Stoat has no resume: a re-Ready's channel whose last_message_id is newer
//     than the newest message id the router saw for it missed messages. The router sends it,
//     after its seed, a gate of its own (no patch; the channel is its primary), behind which the
//     channel holds its later messages; the bot fetches the missed ones through REST (never on
//     an owner's goroutine) and delivers them as unnumbered Dispatches of recovered
//     MessageCreateEvents, which the channel runs at once in the gate's place, in id order;
//     closing the gap resolves the gate. A gap's wait is logged at each timeout, never given up:
//     the backfill is bounded and always closes its gaps.
//   - Rebuilds (rebuild.go). A server's or channel's owner can be rebuilt from the API
//     (ermine.Bot.Resync; the backfill, for a channel that missed more than it fetches and for
//     the member lists a re-Ready leaves out). As for a gap, a gate of the owner's own comes
//     first and the owner holds what follows it; the fetched state arrives as a Rebuild, applied
//     in the gate's place without handlers, and the rebuilder then resolves the gate. What the
//     owner applied before the gate is in the API's answer (it came before the first request);
//     what it held may be too, and applying it again changes nothing.
//   - The re-Ready diff (readydiff.go). Stoat has no resume, so nothing tells a bot which servers,
//     channels and emojis vanished or appeared while it was away. The router compares its own
//     sets, as they were just before a re-Ready (the previous Ready and the events since), with
//     the Ready's, and the reader routes the difference, with the channels that missed messages
//     (backfilled or beyond the bound), as a ReadyDiffEvent right after the Ready: the shard
//     owner's next event, numbered and acknowledged like any, so it runs once the Ready's handlers
//     have run (or detached), and wait_for can wait for it. A connection's first Ready has none.
//     It changes no cache: cancelling it cancels nothing. It does not say how many messages each
//     backfill fetched (the backfill runs after it), nor which members of other users a server's
//     cache held that the Ready replaced (a Ready carries only your own memberships).
//   - Timeouts. A wait longer than Deps.GateTimeout (30 s by default) is logged, rate-limited,
//     and counted (Deps.GateStats). For a gate, the owner then asks the primary owner for the
//     outcome: the primary answers from the outcomes it keeps, or says the event is still held
//     there (the wait starts over), or does not know it. If no answer comes within a second
//     timeout, the patch is applied: the event did happen on Stoat, and only a cancel can be lost
//     that way (counted as GivenUp). In one process a resolution is never lost, so a timeout means
//     an owner far behind, or a bug. A Ready's barrier is only logged and waited for again: the
//     seeds cannot be re-sent from the shard owner, and the Ready's handlers must see them. The
//     timer only sends a message to the owner itself, which decides on its own goroutine.
//
// # The cache effect of every event
//
// One entry per event: the owner; ctx: the cache context of its reads in before_dispatch and of
// its writes, here and at the owners its patches go to (CacheContextKind; stoat.py's class name);
// r: what before_dispatch fills in the event (immutable snapshots from the owner's state); w: what
// process writes (skipped when a handler cancels the event);
// p: patches to other owners (seed, gated or plain, as above); ≠py: where stoat.py (1.2.0) does
// something else and ermine deliberately does not copy it. "Set" means a new object is published;
// nothing published is ever changed. UserMoveVoiceChannelEvent is an instruction to your voice
// client (the participant lists change through VoiceChannelMoveEvent). BeforeConnectEvent and
// AfterConnectEvent never reach an owner: the shard actor hands them to the handlers itself.
// ReadyDiffEvent is the router's own (see the re-Ready diff above).
//
//	ReadyEvent (shard)
//	  ctx: ReadyEventCacheContext
//	  r: Me (the connected user, after every seed is applied)
//	  w: user settings, if the Ready carries them
//	  p: seeds: each server (server; members replaced by the Ready's, i.e. your own memberships
//	     and voice participants; emojis replaced); each channel (channel; voice participants
//	     replaced, none if absent; read state replaced if the Ready carries read states); users
//	     (set; the one with relationship User is Me). drop to every server and channel known
//	     before (from the previous Ready, creates, or messages) that this Ready lacks (with their
//	     members, emojis, messages, voice, read states, webhooks). Legacy VoiceChannels become
//	     TextChannels with voice {}. Other users are kept (they are not a set the Ready lists).
//	     The Ready's handlers run once every seed and every drop is applied. A re-Ready is
//	     followed by a ReadyDiffEvent.
//	  ≠py: a re-Ready never removes anything in stoat.py; its handlers see an empty cache.
//	UserSettingsUpdateEvent (shard)
//	  ctx: UserSettingsUpdateEventCacheContext
//	  r: Before (settings), After (merged by key)
//	  w: set the settings
//	PrivateChannelCreateEvent (channel)
//	  ctx: PrivateChannelCreateEventCacheContext
//	  w: set the channel
//	  ≠py: stoat.py invents an empty read state.
//	ServerChannelCreateEvent (channel)
//	  ctx: ServerChannelCreateEventCacheContext
//	  w: set the channel (legacy VoiceChannel normalised to TextChannel with voice {}, in the
//	     event too)
//	  p: plain: the channel joins its server's channel list
//	  ≠py: stoat.py does not add it to the server (it waits for a ServerUpdateEvent) and invents
//	     an empty read state.
//	ChannelUpdateEvent (channel)
//	  ctx: ChannelUpdateEventCacheContext
//	  r: Before, After
//	  w: set After; clearing Voice also removes the voice participants
//	ChannelDeleteEvent (channel)
//	  ctx: ChannelDeleteEventCacheContext
//	  r: Channel
//	  w: remove the channel, its messages, voice participants, read state and webhooks (the event
//	     may also mean you lost access)
//	  p: gated: its server drops it from channels and every category
//	  ≠py: stoat.py leaves the read state, the voice state and the DM index behind.
//	GroupRecipientAddEvent (channel)
//	  ctx: GroupRecipientAddEventCacheContext
//	  r: Group
//	  w: add the user to recipients (once)
//	GroupRecipientRemoveEvent (channel)
//	  ctx: GroupRecipientRemoveEventCacheContext
//	  r: Group
//	  w: you: remove the whole group (as ChannelDeleteEvent); another user: remove them from
//	     recipients
//	  ≠py: stoat.py keeps a group you left, and mutates recipients in place.
//	MessageAckEvent (channel)
//	  ctx: MessageAckEventCacheContext
//	  w: read state: last_id = message_id, mentions up to it dropped
//	  ≠py: stoat.py prunes the mentions against the previous last_id, in place.
//	MessageCreateEvent (channel)
//	  ctx: MessageCreateEventCacheContext
//	  w: cache the message (without its embedded user and member), evicting the channel's oldest
//	     beyond MessagesPerChannel; channel last_message_id (DM, Group, TextChannel); a DM becomes
//	     active; a Group's owner follows a channel_ownership_changed system message (the server
//	     sends no ChannelUpdateEvent for it); if it mentions you (your id, @everyone/@online
//	     flags, or one of your roles in the server), its id joins your read state's mentions
//	  p: plain: the author's user snapshot → its user partition (keeping the cached relationship,
//	     which Bonfire may get wrong, and your own relations); the member snapshot → its server
//	     (if you are in it)
//	  ≠py: stoat.py changes last_message_id in place (the handlers' channel object changes) and
//	     replaces the author object by its id on the very message the handlers hold.
//	MessageUpdateEvent (channel)
//	  ctx: MessageUpdateEventCacheContext
//	  r: Before (cached message), After (Before + clear, then data)
//	  w: set After (if cached)
//	MessageAppendEvent (channel)
//	  ctx: MessageAppendEventCacheContext
//	  r: Message (cached)
//	  w: set the message with the embeds appended
//	  ≠py: stoat.py extends the cached message's embeds in place.
//	MessageDeleteEvent (channel)
//	  ctx: MessageDeleteEventCacheContext
//	  r: Message
//	  w: remove it; drop it from your unread mentions
//	MessageDeleteBulkEvent (channel)
//	  ctx: MessageDeleteBulkEventCacheContext
//	  r: Messages (those cached)
//	  w: remove them; drop them from your unread mentions
//	MessageReactEvent (channel)
//	  ctx: MessageReactEventCacheContext
//	  r: Message
//	  w: add the user to reactions[emoji] once
//	  ≠py: stoat.py appends in place and again on a replayed event (duplicates).
//	MessageUnreactEvent (channel)
//	  ctx: MessageUnreactEventCacheContext
//	  r: Message
//	  w: remove the user; an emptied emoji is dropped unless it is one of the message's
//	     interactions.reactions (as stoat.js)
//	  ≠py: stoat.py mutates in place and leaves (or creates) an empty entry.
//	MessageClearReactionEvent (channel)
//	  ctx: MessageClearReactionEventCacheContext
//	  r: Message
//	  w: remove reactions[emoji] entirely
//	WebhookCreateEvent (channel)
//	  ctx: WebhookCreateEventCacheContext
//	  w: cache the webhook (it goes with the channel)
//	WebhookUpdateEvent (channel)
//	  ctx: WebhookUpdateEventCacheContext
//	  r: Before, After (remove, then data)
//	  w: set After
//	  p: gated: if channel_id changed, the new channel takes the webhook over
//	  ≠py: stoat.py caches no webhooks.
//	WebhookDeleteEvent (channel)
//	  ctx: WebhookDeleteEventCacheContext
//	  r: Webhook
//	  w: remove it
//	VoiceChannelJoinEvent (channel)
//	  ctx: VoiceChannelJoinEventCacheContext
//	  w: add (or replace) the participant
//	VoiceChannelLeaveEvent (channel)
//	  ctx: VoiceChannelLeaveEventCacheContext
//	  r: Container, State
//	  w: remove the participant (no participants: no entry)
//	VoiceChannelMoveEvent (channel)
//	  ctx: VoiceChannelMoveEventCacheContext
//	  r: NewContainer, OldContainer (the Store's `from`, still unchanged: its patch is gated)
//	  w: add (or replace) the participant in `to`
//	  p: gated: remove the user from `from`
//	  ≠py: stoat.py does nothing when `from` is not cached, and mutates both in place.
//	UserVoiceStateUpdateEvent (channel)
//	  ctx: UserVoiceStateUpdateEventCacheContext
//	  r: Container, Before, After
//	  w: set After in place of Before
//	  ≠py: stoat.py never writes After back (the update is lost).
//	ServerCreateEvent (server)
//	  ctx: ServerCreateEventCacheContext
//	  r: JoinedAt (now, for your synthesised member)
//	  w: set the server; members replaced by your own, synthesised (no ServerMemberJoinEvent comes
//	     for you); emojis replaced
//	  p: seeds: each channel (channel, voice participants; legacy VoiceChannel normalised); drop
//	     to channels a previous ServerCreateEvent of the same server listed and this one lacks
//	ServerUpdateEvent (server)
//	  ctx: ServerUpdateEventCacheContext
//	  r: Before, After (clear, then data)
//	  w: set After
//	ServerDeleteEvent (server)
//	  ctx: ServerDeleteEventCacheContext
//	  r: Server
//	  w: remove the server, its members, roles and emojis
//	  p: gated: drop to each of its channels (messages, voice, read states, webhooks)
//	  ≠py: stoat.py keeps the channels and their messages, and the emojis in its global map.
//	ServerEmojiCreateEvent (server)
//	  ctx: ServerEmojiCreateEventCacheContext
//	  w: cache the emoji
//	ServerEmojiUpdateEvent (server)
//	  ctx: ServerEmojiUpdateEventCacheContext
//	  r: Before, After (renamed)
//	  w: set After
//	ServerEmojiDeleteEvent (server)
//	  ctx: ServerEmojiDeleteEventCacheContext
//	  r: Emoji
//	  w: remove it
//	ServerMemberJoinEvent (server)
//	  ctx: ServerMemberJoinEventCacheContext
//	  r: Member (synthesised from user, joined now, if the server sent none)
//	  w: set it (if the server is cached)
//	ServerMemberUpdateEvent (server)
//	  ctx: ServerMemberUpdateEventCacheContext
//	  r: Before, After (clear first: Roles → none, CanPublish/CanReceive → absent (true), JoinedAt
//	     and VoiceChannel are no-ops; then data)
//	  w: set After (if cached)
//	ServerMemberRemoveEvent (server)
//	  ctx: ServerMemberRemoveEventCacheContext
//	  r: Member
//	  w: another user: remove the member; you: as ServerDeleteEvent, for your view
//	  p: you: as ServerDeleteEvent
//	  ≠py: stoat.py keeps the channels and their messages when you leave.
//	RawServerRoleUpdateEvent (server)
//	  ctx: RawServerRoleUpdateEventCacheContext
//	  r: Server, OldRole, NewRole (OldRole, or a new role, + clear, then data)
//	  w: set the server with NewRole in place (or added)
//	  ≠py: stoat.py upserts the role in place.
//	ServerRoleDeleteEvent (server)
//	  ctx: ServerRoleDeleteEventCacheContext
//	  r: Server, Role
//	  w: remove the role from the server and from every cached member
//	  p: gated: strip it from each of the server's channels' role_permissions
//	  ≠py: stoat.py mutates the server and the channels in place.
//	ServerRoleRanksUpdateEvent (server)
//	  ctx: ServerRoleRanksUpdateEventCacheContext
//	  r: Server
//	  w: each listed role's rank = its index
//	  ≠py: stoat.py sets the ranks in place.
//	UserUpdateEvent (userdir)
//	  ctx: UserUpdateEventCacheContext
//	  r: Before, After (clear first: StatusText/StatusPresence clear that part of status, no
//	     status left → none; then data)
//	  w: set After (if cached); yours also becomes Me
//	UserRelationshipUpdateEvent (userdir)
//	  ctx: UserRelationshipUpdateEventCacheContext
//	  r: OldUser, Before (old relationship)
//	  w: set the user (its relationship is the new status)
//	  p: gated: your relations list: None removes the entry, any other status upserts it
//	UserPlatformWipeEvent (userdir)
//	  ctx: UserPlatformWipeEventCacheContext
//	  r: Before, After (flags set, no relationship, offline)
//	  w: remove the user
//	  p: gated: your relations lose them; every server drops their membership; every channel drops
//	     their messages and reactions (and those from your mentions), a group drops them from
//	     recipients, voice drops them, and a DM with them is removed entirely
//	  ≠py: stoat.py only renames the user; DMs, messages and memberships stay.
//	no cache effect (shard)
//	  AuthenticatedEvent, LogoutEvent, PongEvent, ErrorEvent, BeesEvent, UnknownEvent,
//	  SessionCreateEvent, SessionDeleteEvent, SessionDeleteAllEvent, ReportCreateEvent,
//	  UserMoveVoiceChannelEvent, UserSlowmodesEvent, ReadyDiffEvent
//	no cache effect (channel)
//	  ChannelStartTypingEvent, ChannelStopTypingEvent, MessageStartEditingEvent,
//	  MessageStopEditingEvent, VoiceCallUpdateEvent
//
// Whose user is "you": the id of the Ready's user with relationship User. Later snapshots are
// matched by id, never by their relationship field, which Bonfire can get wrong (BONFIRE.md §6).
//
// # Reading
//
// Store's getters (Server, Channel, Member, Members, User, Message, Messages, Emoji, Webhook,
// VoiceStates, ReadState, ReadStates, Me, Settings, the *IDs lists, Counts, Stats, LastWrite)
// can be called from any goroutine, and never block an owner for longer than a map lookup (a
// listing copies one shard at a time). Every object they return is an immutable snapshot: the
// owner never changes a published object or a slice it holds, it publishes a new one built from
// ShallowClone. Inside a handler, the event's own before/after and cached objects are such
// snapshots too, so they never change under it. Messages are kept compact and a read builds the
// *stoatpb.Message (window.go); it is a snapshot all the same.
//
// The Store is a read model: the owners publish to it, each for its own entities, and read their
// state from themselves. It is consistent per entity (an entity reads as its owner left it after
// some event, never half of an update) and eventually consistent across entities: a handler of a
// channel's event reads the channel as it was before the event, but a server or a user as their
// owners have them now, which may be a few events behind or ahead of the wire position of the
// event (their owners run in parallel). A channel's last_message_id is published with its message
// window (Store.Channel merges the two).
//
// Facts an owner needs from another entity travel with the event, from the reader's router: your
// id (Dispatch.me), your roles in a server for a message that mentions roles (Dispatch.my_roles),
// your relationships with a partition's users (SeedUsers.relations, then the relationship events
// at the partition itself). What owners still read from the Store, and why it is safe in one
// process (cluster mode replaces each by a message):
//   - VoiceChannelMoveEvent's OldContainer: the `from` channel's voice state; the patch that
//     removes the user there is gated on this event, so `from` is unchanged meanwhile.
//   - WebhookUpdateEvent's and WebhookDeleteEvent's Before: the webhook as published by its
//     channel; a webhook moved to another channel was published by the channel it left.
//   - Your own user, when an owner has not been told your id yet (a patch before any event) and
//     for a Ready without your user.
//
// # Policies
//
// Policy (ermine.Config.Cache) has per-kind predicates (users, members, messages, emojis, voice
// participants, read states: Keep, composed with And, Or, Not and From) with toggles that are
// shorthand for keeping none, the per-channel message bound (oldest evicted first), and the
// optional global bounds on users and on messages across channels, with an approximate LRU
// that keeps owners the single writers (budget.go explains it). Store.Stats reports entries and
// estimated heap bytes per kind (stats.go says how they are estimated), and the writes and
// reads by context kind.
//
// # Cache contexts
//
// Every write knows why it happens, as in stoat.py, where each cache call takes a context: its
// CacheContextKind is the event class whose process writes (the event's kind, also for the
// seeds and patches the event sends other owners: a Ready's seeds are CacheReadyEvent, the
// author and member a MessageCreateEvent carries are CacheMessageCreateEvent) and, for the
// event's primary owner, the event itself (EventCacheContext, stoat.py's event.cache_context).
// What a REST response the bot asked for teaches (ermine.Bot.FetchUser, FetchMember) is
// CacheUserRequest. A predicate gets the context with the entry. The reads the runtime makes for a bot outside
// before_dispatch (ermine.Context's accessors) have kinds of their own, after the events', named
// after stoat.py's (CacheMemberThroughMessageAuthor…); Store.Reading asks Policy.Reads about
// them and counts them. A context is a value of two words, built from what the owner holds:
// the default policy calls no predicate, and no write allocates for its context.
//
// The read model records, for each cached entry, the kind of its last write: Store.LastWrite
// (e.g. LastWrite(EntryMember, server, user) is CacheMessageCreateEvent for a member learnt
// from a message's author, until a ServerMemberUpdateEvent replaces it). The record goes with
// the entry: a write that replaces the entry replaces it, a removal (an event, a policy that
// refuses the new version, an eviction) removes it, and a passivated owner's rebuilt tables keep
// it. It costs no allocation per write, no byte for a message (its compact form's padding holds
// it, also for a message kept whole) and 8 bytes per map slot for the others (users, servers,
// channels, members, emojis, voice states, read states, webhooks: their index's map value),
// which is 9 to 18 bytes per entry with the map's fill (BenchmarkCacheMemory: 17.5 more per
// user and per member, about 6 %, at 100k entries).
package cacheactors

//go:generate go test -run TestDocTables -update
