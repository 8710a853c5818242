// Drives the official Stoat client, stoat.js, against a Stoat-compatible server (ermine's fake
// server, package stoattest, in the Go test stoattest/stoatjs_test.go) and prints what it sees,
// one line per event:
//
//   READY <username> servers=<n> channels=<n> users=<n> members=<n> emojis=<n>
//   SENT <message id>                        (after sending STOAT_SEND_CONTENT, if set)
//   MESSAGE <content>                        (messageCreate)
//   UPDATE <message id> <content>            (messageUpdate)
//   DELETE <message id>                      (messageDelete)
//   REACT <message id> <user id> <emoji>     (messageReactionAdd)
//   TYPING <channel id> <user id>            (channelStartTyping)
//   ERROR <description>                      (client errors, unhandled rejections)
//   BYE                                      (a message with the content "bye" arrived: exit 0)
//
// Usage: node [--experimental-websocket] client.mjs <api base URL> <bot token>
// (Node 20 needs the flag for its global WebSocket; Node 22 and later have it by default.)
// Optional environment: STOAT_SEND_CHANNEL and STOAT_SEND_CONTENT make it send one message
// through the REST API once ready.
import { Client } from "stoat.js";

const [baseURL, token] = process.argv.slice(2);
if (!baseURL || !token) {
  console.error("usage: node client.mjs <api base URL> <bot token>");
  process.exit(2);
}
if (typeof WebSocket === "undefined") {
  console.error("no global WebSocket: run Node 20 with --experimental-websocket");
  process.exit(2);
}

const say = (...parts) => console.log(parts.join(" "));
const describe = (e) => (e instanceof Error ? `${e.name}: ${e.message}` : JSON.stringify(e));

process.on("unhandledRejection", (e) => say("ERROR", "unhandled rejection:", describe(e)));
process.on("uncaughtException", (e) => say("ERROR", "uncaught exception:", describe(e)));

const client = new Client({ baseURL, autoReconnect: false });

client.on("error", (e) => say("ERROR", describe(e)));
client.on("ready", async () => {
  say(
    "READY",
    client.user?.username,
    `servers=${client.servers.size()}`,
    `channels=${client.channels.size()}`,
    `users=${client.users.size()}`,
    `members=${client.serverMembers.size()}`,
    `emojis=${client.emojis.size()}`,
  );
  const channel = process.env.STOAT_SEND_CHANNEL;
  if (channel) {
    try {
      const sent = await client.channels.get(channel).sendMessage(process.env.STOAT_SEND_CONTENT ?? "hello from stoat.js");
      say("SENT", sent.id);
    } catch (e) {
      say("ERROR", "send:", describe(e));
    }
  }
});
client.on("messageCreate", (m) => {
  say("MESSAGE", m.content);
  if (m.content === "bye") {
    say("BYE");
    client.events.disconnect();
    process.exit(0);
  }
});
client.on("messageUpdate", (m) => say("UPDATE", m.id, m.content));
client.on("messageDelete", (m) => say("DELETE", m.id));
client.on("messageReactionAdd", (m, user, emoji) => say("REACT", m.id, user, emoji));
client.on("channelStartTyping", (c, u) => say("TYPING", c.id, u?.id));
client.on("disconnected", () => say("DISCONNECTED"));

await client.loginBot(token);
